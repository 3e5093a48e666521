"""The loaded dialplan's contexts asked over AMI: a context Asterisk does not know is missing, any
other failure leaves the answer unknown (the real Asterisk's texts: tests/asterisk/cti); the
contexts asked for are those of the engine's extensions.conf."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from cti.ami.dialplan import missing_contexts
from cti.ami.manager import AmiReply
from cti.errors import AmiActionFailed, AmiUnavailable
from cti.pbx_config import dialplan_contexts
from cti.settings import DEFAULT_CONFIG_DIR


class Dialplan:
    def __init__(self, loaded: set[str], failure: Exception | None = None) -> None:
        self.loaded, self.failure = loaded, failure
        self.asked: list[dict[str, Any]] = []

    async def __call__(self, action: str, headers: Mapping[str, str | Sequence[str]], *,
                       expect: str = "response", timeout_s: float = 10.0) -> AmiReply:
        assert action == "ShowDialPlan" and expect == "list"
        self.asked.append(dict(headers))
        if self.failure is not None:
            raise self.failure
        if headers["Context"] not in self.loaded:
            raise AmiActionFailed(f"ShowDialPlan: Did not find context {headers['Context']}")
        return AmiReply({"Response": "Success"}, (), None)


async def test_the_contexts_asterisk_does_not_know_are_named_in_order() -> None:
    send = Dialplan({"b"})
    assert await missing_contexts(send, ["c", "b", "a"]) == ["c", "a"]
    assert [h["Context"] for h in send.asked] == ["c", "b", "a"]
    assert await missing_contexts(Dialplan({"a", "b"}), ["a", "b"]) == []


@pytest.mark.parametrize("failure", [AmiActionFailed("ShowDialPlan: Permission denied"),
                                     AmiUnavailable("AMI is not connected (ShowDialPlan not sent)")])
async def test_any_other_failure_is_no_answer(failure: Exception) -> None:
    with pytest.raises(type(failure)):
        await missing_contexts(Dialplan(set(), failure), ["a"])


def test_the_contexts_expected_are_those_of_the_shipped_extensions_conf(tmp_path: Path) -> None:
    from callcenter.engine import LINE_CONTEXTS

    shipped = dialplan_contexts(DEFAULT_CONFIG_DIR)
    assert {"cti-inbound", "cti-queue", "cti-agent-connect", *LINE_CONTEXTS} <= set(shipped)
    assert "general" not in shipped and "globals" not in shipped and len(shipped) == len(set(shipped))
    (tmp_path / "asterisk").mkdir()
    (tmp_path / "asterisk" / "extensions.conf").write_text(
        "[general]\nstatic=yes\n[globals]\n[cti-a]\nexten => s,1,NoOp([not-a-context])\n;[cti-commented]\n[cti-b]\n")
    assert dialplan_contexts(tmp_path) == ["cti-a", "cti-b"]
