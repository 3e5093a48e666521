"""Recovery of an agent whose own dial still rings their phone at the restart (their leg not up: no
call to take back yet): not ready "outbound" with the break they dialled from pending, never offered
a queued call, and given back once their phone is free (the dial's watch, ``acd.dial_readiness``):
to that break, or ready if they dialled from ready. Before, recovery left them not ready "outbound"
with nothing pending for good.

The ACD over fakes, with the channels the call model would show."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.recovery import RecoveryPlan
from acd.routing import Router
from callcenter.recovery import Recovery
from callcenter.recovery_agents import LastState
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from tests.helpers import until

PHONE_LEG = "Local/1002@cti-sim-phone-00000001;1"  # the dial's Originate: ringing the agent's phone


class Rig:
    def __init__(self) -> None:
        self.channels: dict[str, list[str]] = {"L1": [PHONE_LEG]}
        self.bus = InProcessBus()
        self.acd = AcdService(Router([QueueConfig("support")]), FakeCallControl(), self.bus,
                              live_channels=lambda: [n for names in self.channels.values() for n in names],
                              call_channels=lambda linkedid: list(self.channels.get(linkedid, ())))
        self.acd.dial_readiness.poll_s = 0.01
        self.recovery = Recovery(acd=self.acd, model=cast(Any, None), control=cast(Any, None), db=cast(Any, None),
                                 bus=self.bus, login=cast(Any, None))

    def state(self) -> tuple[str, str | None, str | None]:
        view = self.acd.agent("1002")
        return view.state.value, view.reason, view.not_ready_after_call


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r = Rig()
    r.acd.subscribe()
    await r.bus.start()
    await r.acd.agent_login("1002", {}, ["support"])  # as recovery logs the agent in: not ready
    yield r
    await r.acd.dial_readiness.stop()
    await r.bus.stop()


@pytest.mark.parametrize(("back_to", "after"), [("lunch", ("not_ready", "lunch", None)),
                                                (None, ("available", None, None))])
async def test_a_dial_still_ringing_at_the_restart_gives_the_agent_back_once_the_phone_is_free(
        rig: Rig, back_to: str | None, after: tuple[str, str | None, str | None]) -> None:
    last = LastState("not_ready", "outbound", own_call=True, back_to=back_to)
    got = await rig.recovery._restore_state("1002", last, RecoveryPlan(), {"1002": ("L1", False)})
    assert got == "not_ready"
    assert rig.state() == ("not_ready", "outbound", back_to)
    assert rig.acd.dial_readiness.watching == {"1002": "L1"}
    await asyncio.sleep(0.2)  # it rings a while (the watch sees it: 10 ms polls) ...
    assert rig.state() == ("not_ready", "outbound", back_to)  # never offered a call meanwhile
    del rig.channels["L1"]  # ... then stops (nobody answered)
    await until(lambda: rig.state() == after, timeout_s=5.0, what=f"1002 {after}")
