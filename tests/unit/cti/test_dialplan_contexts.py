"""The loaded dialplan's contexts asked over AMI: a context Asterisk does not know is missing, any
other failure leaves the answer unknown (the real Asterisk's texts: tests/asterisk/cti); the
contexts asked for are those of the engine's extensions.conf."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from cti.ami.dialplan import DialplanWatch, missing_contexts
from cti.ami.manager import AmiReply
from cti.errors import AmiActionFailed, AmiUnavailable, ConfigError
from cti.pbx_config import dialplan_contexts
from cti.settings import load_settings


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


def test_the_contexts_expected_are_those_of_the_shipped_extensions_conf_and_its_trunks(tmp_path: Path) -> None:
    from callcenter.handoff import LINE_CONTEXTS

    shipped = dialplan_contexts(load_settings())
    assert {"cti-inbound", "cti-queue", "cti-agent-connect", *LINE_CONTEXTS} <= set(shipped)
    # the shipped trunks.yaml's simulator trunk, rendered into the template
    assert {"cti-external", "cti-routes", "cti-trunk-sim"} <= set(shipped)
    assert "general" not in shipped and "globals" not in shipped and len(shipped) == len(set(shipped))
    (tmp_path / "asterisk").mkdir()
    (tmp_path / "asterisk" / "extensions.conf").write_text(
        "[general]\nstatic=yes\n[globals]\n[cti-a]\nexten => s,1,NoOp([not-a-context])\n;[cti-commented]\n"
        "@@trunk_dialplan@@\n[cti-b]\n")
    (tmp_path / "trunks.yaml").write_text(
        "trunks:\n  - {name: carrier, kind: simulator}\noutbound:\n  routes:\n    - {prefix: '', trunk: carrier}\n")
    assert dialplan_contexts(load_settings(config_dir=tmp_path)) == [
        "cti-a", "cti-external", "cti-routes", "cti-trunk-carrier", "cti-b"]
    (tmp_path / "trunks.yaml").write_text("trunks: 3\n")
    with pytest.raises(ConfigError, match=r"trunks\.yaml"):
        dialplan_contexts(load_settings(config_dir=tmp_path))


async def test_the_watch_logs_changes_and_keeps_its_last_answer_through_a_failure(
        caplog: pytest.LogCaptureFixture) -> None:
    send = Dialplan({"a", "b"})
    watch = DialplanWatch(send, ["a", "b", "c"])
    assert watch.missing is None and watch.lacks_any(["a"])  # not asked yet
    with caplog.at_level(logging.WARNING, logger="cti.ami.dialplan"):
        await watch.check()
        await watch.check()  # the same answer is not logged twice
        assert watch.missing == ["c"] and watch.lacks_any(["b", "c"]) and not watch.lacks_any(["a", "b"])
        send.loaded.add("c")
        await watch.check()
        assert watch.missing == [] and not watch.lacks_any(["c"])
        send.failure = AmiUnavailable("AMI is not connected (ShowDialPlan not sent)")
        await watch.check()
        assert watch.missing == [] and not watch.lacks_any(["c"])  # no answer: the last one stands
    logged = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in logged] == [logging.ERROR, logging.WARNING, logging.WARNING], logged
    assert "lacks c of config/asterisk/extensions.conf" in logged[0][1]
    assert "every context" in logged[1][1] and "could not ask" in logged[2][1]


async def test_the_watch_asks_again_every_so_often() -> None:
    send = Dialplan({"a"})
    watch = DialplanWatch(send, ["a", "b"], every_s=0.01)

    async def until(missing: list[str]) -> None:
        async with asyncio.timeout(10):  # a loaded machine: generous, never slow when it works
            while watch.missing != missing:  # noqa: ASYNC110 - the watch has no event to wait on
                await asyncio.sleep(0.01)

    watch.start()
    try:
        await until(["b"])
        send.loaded.add("b")
        await until([])
    finally:
        await watch.stop()
