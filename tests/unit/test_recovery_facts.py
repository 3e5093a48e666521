"""Start-up recovery reads each live channel's ACD variables: a channel that answers "No such
channel" for an instant (being moved: the fallback's Redirect, a masquerade) is asked again, so a
caller still waiting is queued again; a channel that stays gone is left out."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from acd.recovery import ENTRY_VAR, QueueEntry, encode_entry
from callcenter import recovery
from callcenter.recovery import Recovery
from cti.ami.callmodel import Phase
from cti.errors import AmiActionFailed

ENTRY = QueueEntry("L1", "support", 1000.0, caller_number="+8613800138000")


class _Control:
    def __init__(self, missing_times: dict[str, int]) -> None:
        self.missing = dict(missing_times)  # channel -> how many reads answer "No such channel"

    async def get_var(self, channel: str, name: str) -> str | None:
        if self.missing.get(channel, 0) > 0:
            if name == ENTRY_VAR:
                self.missing[channel] -= 1
            raise AmiActionFailed("Getvar: No such channel")
        return encode_entry(ENTRY) if name == ENTRY_VAR else None


def _recovery(control: _Control, *names: str) -> Recovery:
    chans = [SimpleNamespace(name=n, linkedid="L1", context="cti-queue", phase=Phase.UP, created=1000.0,
                             bridge_id=None) for n in names]
    model = SimpleNamespace(calls=lambda: [SimpleNamespace(live=chans)])
    return Recovery(acd=cast(Any, None), model=cast(Any, model), control=cast(Any, control), db=cast(Any, None),
                    bus=cast(Any, None), login=cast(Any, None))


async def test_a_channel_being_moved_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recovery, "FACT_RETRY_S", (0.0, 0.0, 0.0))
    facts = await _recovery(_Control({"PJSIP/caller-1": 2}), "PJSIP/caller-1").facts()
    assert [f.entry for f in facts] == [ENTRY]


async def test_a_channel_that_stays_gone_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recovery, "FACT_RETRY_S", (0.0, 0.0, 0.0))
    facts = await _recovery(_Control({"PJSIP/gone-1": 99}), "PJSIP/gone-1").facts()
    assert [f.entry for f in facts] == [None]
