"""Asterisk's own words (an AMI Response: Error's Message) stay in the engine's log: an action the
phone system refused reached the agent's screen as its raw text through any route the desk does
not wrap, e.g. pausing a call's recording (502 ami_action_failed). A real (unstarted) Engine."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from crm_core.recorder import ActiveRecording
from cti.errors import AmiActionFailed
from tests.web.supervisor.conftest import Site, login

ASTERISK_SAYS = "MixMonitorMute: Cannot find channel Local/5002@cti-inbound-0001;2"


async def test_a_refused_recording_pause_names_the_step_not_asterisks_text(
        site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    async def refused(*args: Any, **kwargs: Any) -> None:
        raise AmiActionFailed(ASTERISK_SAYS)

    monkeypatch.setattr(site.engine.ami.control, "mute_recording", refused)
    site.engine.recorder.active["L1"] = ActiveRecording("L1", "Local/5002@cti-inbound-0001;2", "x.wav", 1.0,
                                                        agents={"1001"})
    async with site.client() as c:
        await login(c, "agent1", "agent1-demo")
        with caplog.at_level(logging.WARNING):
            r = await c.post("/api/calls/L1/recording/pause")
    assert r.status_code == 502, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "ami_action_failed" and "Cannot find channel" not in detail["message"], detail
    assert "POST /api/calls/L1/recording/pause" in caplog.text and ASTERISK_SAYS in caplog.text
    assert "the phone system refused" in detail["message"], detail
