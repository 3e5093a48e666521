"""acd.fallback: the app_queue fallback queues' members follow the agents' logins, phones and
readiness (a fake AMI sender records the actions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from acd.calls import AgentPhone
from acd.events import AgentStateChanged
from acd.fallback import FallbackMembers
from acd.model import AgentState, AgentView
from callcenter.recovery import AwayFacts
from cti.bus import InProcessBus
from cti.errors import AmiActionFailed, PbxError
from cti.pbx import fallback_queues


class Sender:
    def __init__(self, fail: dict[str, str] | None = None, members: list[str] | None = None) -> None:
        self.sent: list[tuple[str, dict[str, str]]] = []
        self.fail, self.members = fail or {}, members or []

    async def __call__(self, action: str, headers: dict[str, str], **_: Any) -> Any:
        self.sent.append((action, dict(headers)))
        if action in self.fail:
            raise AmiActionFailed(f"{action}: {self.fail[action]}")
        if action == "QueueStatus":
            return type("Reply", (), {"items": tuple({"Event": "QueueMember", "Location": m} for m in self.members)})
        return None


def state(agent: str, value: str, queues: tuple[str, ...] = ("support", "billing")) -> AgentStateChanged:
    return AgentStateChanged(ts=1.0, agent_id=agent, state=value, queues=queues)


async def test_members_follow_login_readiness_phone_and_logout() -> None:
    send = Sender()
    phones = {"1001": AgentPhone("1001", kind="sip"), "1002": AgentPhone("2002", kind="sim")}
    members = FallbackMembers(send, InProcessBus(), phones, {"support"})  # billing falls back to voicemail
    await members.on_state(state("1001", "not_ready"))
    await members.on_state(state("1001", "available"))
    await members.on_state(state("1001", "on_call"))  # no change for app_queue: nothing sent
    await members.on_state(state("1002", "available"))
    await members.on_state(state("1001", "logged_out", ()))
    assert send.sent == [
        ("QueueAdd", {"Queue": "cti-fallback-support", "Interface": "PJSIP/1001", "MemberName": "1001",
                      "StateInterface": "PJSIP/1001", "Paused": "true"}),
        ("QueuePause", {"Queue": "cti-fallback-support", "Interface": "PJSIP/1001", "Paused": "false"}),
        ("QueueAdd", {"Queue": "cti-fallback-support", "Interface": "Local/2002@cti-sim-phone/n",
                      "MemberName": "1002", "StateInterface": "Local/2002@cti-sim-phone", "Paused": "false"}),
        ("QueueRemove", {"Queue": "cti-fallback-support", "Interface": "PJSIP/1001"}),
    ]
    assert set(members.members) == {"1002"}


async def test_a_member_left_by_an_earlier_engine_is_taken_as_it_is() -> None:
    send = Sender(fail={"QueueAdd": "Unable to add interface: Already there"})
    members = FallbackMembers(send, InProcessBus(), {"1001": AgentPhone("1001", kind="sip")}, {"support"})
    await members.on_state(state("1001", "available"))
    assert [a for a, _ in send.sent] == ["QueueAdd", "QueuePause"] and "1001" in members.members


async def test_ami_away_is_logged_not_raised() -> None:
    send = Sender(fail={"QueueAdd": "AMI is not connected"})
    members = FallbackMembers(send, InProcessBus(), {}, {"support"})
    await members.on_state(state("1001", "available"))  # no exception: the next start reconciles
    assert members.members == {}


async def test_reconcile_removes_members_no_logged_in_agent_stands_for() -> None:
    send = Sender(members=["PJSIP/1001", "PJSIP/1009"])
    members = FallbackMembers(send, InProcessBus(), {"1001": AgentPhone("1001", kind="sip")}, {"support"})
    agent = AgentView("1001", AgentState.AVAILABLE, None, {}, 1, ("support",), True, 0.0, None, (), ())
    assert await members.reconcile([agent]) == ["PJSIP/1009"]
    assert send.sent[-1] == ("QueueRemove", {"Queue": "cti-fallback-support", "Interface": "PJSIP/1009"})


def test_fallback_queues_rendered_for_queues_that_fall_back_to_app_queue(tmp_path: Path) -> None:
    (tmp_path / "queues.yaml").write_text(
        "queues:\n  support: {}\n  sales: {fallback: voicemail}\n  billing: {fallback: app_queue}\n")
    assert fallback_queues(tmp_path) == "[cti-fallback-support](cti-fallback)\n\n[cti-fallback-billing](cti-fallback)\n"
    (tmp_path / "queues.yaml").write_text("queues:\n  'bad name': {}\n")
    with pytest.raises(PbxError, match="bad name"):
        fallback_queues(tmp_path)
    assert fallback_queues(tmp_path / "none") == ""


def test_away_facts_decode() -> None:
    assert AwayFacts.decode("1700.5|app_queue|support|1001|1690.25|") == AwayFacts(1700.5, "app_queue", "support",
                                                                                    "1001", 1690.25)
    assert AwayFacts.decode("1700.5|engine_down|sales|||8001@cti") == AwayFacts(1700.5, "engine_down", "sales",
                                                                                 mailbox="8001@cti")
    assert AwayFacts.decode("1700.5|ivr_lost||") == AwayFacts(1700.5, "ivr_lost")
    assert AwayFacts.decode("1700.5") == AwayFacts(1700.5)
    assert AwayFacts.decode("garbage|x") is None
