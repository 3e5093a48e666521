"""acd.fallback: the app_queue fallback queues' members follow the agents' logins, phones and
readiness (the in-memory FallbackQueues records the calls; the AMI side is tests/unit/cti/test_queue_members.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.calls import AgentPhone
from acd.events import AgentStateChanged
from acd.fallback import FakeFallbackQueues, FallbackMembers
from acd.model import AgentState, AgentView
from callcenter.recovery import AwayFacts
from cti.bus import InProcessBus
from cti.errors import PbxError, UnsafeValue
from cti.pbx_config import fallback_queues


def state(agent: str, value: str, queues: tuple[str, ...] = ("support", "billing")) -> AgentStateChanged:
    return AgentStateChanged(ts=1.0, agent_id=agent, state=value, queues=queues)


async def test_members_follow_login_readiness_phone_and_logout() -> None:
    port = FakeFallbackQueues()
    phones = {"1001": AgentPhone("1001", kind="sip"), "1002": AgentPhone("2002", kind="sim")}
    members = FallbackMembers(port, InProcessBus(), phones, {"support"})  # billing falls back to voicemail
    await members.on_state(state("1001", "not_ready"))
    await members.on_state(state("1001", "available"))
    await members.on_state(state("1001", "on_call"))  # no change for app_queue: nothing sent
    await members.on_state(state("1002", "available"))
    await members.on_state(state("1001", "logged_out", ()))
    assert port.calls == [
        ("add", {"queue": "support", "interface": "PJSIP/1001", "name": "1001", "state_interface": "PJSIP/1001",
                 "paused": True}),
        ("pause", {"queue": "support", "interface": "PJSIP/1001", "paused": False}),
        ("add", {"queue": "support", "interface": "Local/2002@cti-sim-phone/n", "name": "1002",
                 "state_interface": "Local/2002@cti-sim-phone", "paused": False}),
        ("remove", {"queue": "support", "interface": "PJSIP/1001"}),
    ]
    assert set(members.members) == {"1002"}
    assert port.queues == {"support": {"Local/2002@cti-sim-phone/n": {
        "name": "1002", "state_interface": "Local/2002@cti-sim-phone", "paused": False}}}


async def test_members_follow_the_published_states_through_one_sync_task() -> None:
    """On the bus the members are an observer: the states of a call (reserved, on call, wrap-up,
    available) wake no task and send nothing; states published back to back (a login straight to
    ready) cost the PBX one action per queue, the latest state's."""
    port = FakeFallbackQueues()
    bus = InProcessBus()
    members = FallbackMembers(port, bus, {"1001": AgentPhone("1001", kind="sip")}, {"support", "billing"})
    members.subscribe()
    await bus.start()
    try:
        await bus.publish(state("1001", "not_ready"))  # the login ...
        await bus.publish(state("1001", "available"))  # ... straight to ready, in the same step
        await members.wait_synced()
        assert port.calls == [
            ("add", {"queue": q, "interface": "PJSIP/1001", "name": "1001", "state_interface": "PJSIP/1001",
                     "paused": False}) for q in ("billing", "support")]
        synced = members._syncing
        for value in ("reserved", "on_call", "wrap_up", "available"):
            await bus.publish(state("1001", value))
        assert members._syncing is synced and not members._pending  # no task woken, nothing to do
        await bus.publish(state("1001", "not_ready"))
        await members.wait_synced()
        assert [c for c, _ in port.calls[2:]] == ["pause", "pause"]
        port.fail["pause"] = "AMI is not connected"
        await bus.publish(state("1001", "available"))
        await members.wait_synced()
        del port.fail["pause"]
        await bus.publish(state("1001", "available"))  # the same state again: the failed sync is retried
        await members.wait_synced()
        assert port.queues["support"]["PJSIP/1001"]["paused"] is False
        await bus.publish(state("1001", "logged_out", ()))
        await members.wait_synced()
        assert port.queues == {"support": {}, "billing": {}} and members.members == {}
    finally:
        await bus.stop()


async def test_a_new_phone_replaces_the_old_member() -> None:
    port = FakeFallbackQueues()
    phones = {"1001": AgentPhone("1001", kind="sim")}
    members = FallbackMembers(port, InProcessBus(), phones, {"support"})
    await members.on_state(state("1001", "available"))
    phones["1001"] = AgentPhone("1001", kind="webrtc")
    await members.on_state(state("1001", "available"))
    assert [m for m, _ in port.calls] == ["add", "remove", "add"]
    assert list(port.queues["support"]) == ["PJSIP/web1001"]


async def test_a_member_left_by_an_earlier_engine_is_taken_as_it_is() -> None:
    port = FakeFallbackQueues(queues={"support": {"PJSIP/1001": {"name": "1001", "state_interface": "PJSIP/1001",
                                                                 "paused": True}}})
    members = FallbackMembers(port, InProcessBus(), {"1001": AgentPhone("1001", kind="sip")}, {"support"})
    await members.on_state(state("1001", "available"))
    assert [m for m, _ in port.calls] == ["add", "pause"] and "1001" in members.members
    assert port.queues["support"]["PJSIP/1001"]["paused"] is False


async def test_ami_away_is_logged_not_raised() -> None:
    port = FakeFallbackQueues(fail={"add": "AMI is not connected"})
    members = FallbackMembers(port, InProcessBus(), {}, {"support"})
    await members.on_state(state("1001", "available"))  # no exception: the next start reconciles
    assert members.members == {}


async def test_the_fake_refuses_what_the_adapter_would() -> None:
    with pytest.raises(UnsafeValue, match="interface"):
        await FakeFallbackQueues().add("support", "PJSIP/1001\r\nAction: Logoff", name="1001",
                                       state_interface="PJSIP/1001", paused=False)


async def test_reconcile_removes_members_no_logged_in_agent_stands_for() -> None:
    port = FakeFallbackQueues(queues={"support": {"PJSIP/1001": {}, "PJSIP/1009": {}}})
    members = FallbackMembers(port, InProcessBus(), {"1001": AgentPhone("1001", kind="sip")}, {"support"})
    agent = AgentView("1001", AgentState.AVAILABLE, None, {}, 1, ("support",), True, 0.0, None, (), ())
    assert await members.reconcile([agent]) == ["PJSIP/1009"]
    assert port.calls[-1] == ("remove", {"queue": "support", "interface": "PJSIP/1009"})
    assert list(port.queues["support"]) == ["PJSIP/1001"]


async def test_reconcile_goes_on_when_a_queue_cannot_be_read() -> None:
    port = FakeFallbackQueues(queues={"support": {"PJSIP/1009": {}}}, fail={"members": "AMI is not connected"})
    members = FallbackMembers(port, InProcessBus(), {}, {"support", "billing"})
    assert await members.reconcile([]) == []
    assert port.calls == [("members", {"queue": "billing"}), ("members", {"queue": "support"})]


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


def _view(agent: str, value: AgentState, queues: tuple[str, ...]) -> AgentView:
    return AgentView(agent, value, None, {}, 1, queues, True, 0.0, None, (), ())


async def test_resync_puts_back_what_a_restarted_pbx_forgot_and_removes_a_logout_it_missed() -> None:
    """AMI is back. On a restarted Asterisk the members are gone (not persistent): each logged-in
    agent is added again, paused if not ready. A logout whose removal failed while AMI was away is
    carried out now, and a queue an agent left meanwhile is removed. What the PBX still holds as
    wanted costs nothing: a reconnect with nothing changed reads the queues and sends no action."""
    port = FakeFallbackQueues()
    phones = {a: AgentPhone(a, kind="sip") for a in ("1001", "1002", "1003")}
    members = FallbackMembers(port, InProcessBus(), phones, {"support", "billing"})
    await members.on_state(state("1001", "available"))
    await members.on_state(state("1002", "not_ready"))
    await members.on_state(state("1003", "available"))
    agents = [_view("1001", AgentState.AVAILABLE, ("support", "billing")),
              _view("1002", AgentState.NOT_READY, ("support", "billing")),
              _view("1003", AgentState.AVAILABLE, ("support", "billing"))]
    port.calls.clear()
    members.resync(lambda: agents)  # a network blip: the PBX holds what was carried out
    await members.wait_synced()
    assert {method for method, _ in port.calls} == {"members"}

    for queue in ("support", "billing"):  # the PBX restarted: its members are gone ...
        for agent in ("1001", "1002"):
            port.queues[queue].pop(f"PJSIP/{agent}")
    agents[2] = _view("1003", AgentState.AVAILABLE, ("support",))  # ... and 1003 left billing meanwhile
    port.calls.clear()
    members.resync(lambda: agents)
    await members.wait_synced()
    assert {q: {i: m["paused"] for i, m in ms.items()} for q, ms in port.queues.items()} == {
        "support": {"PJSIP/1001": False, "PJSIP/1002": True, "PJSIP/1003": False},
        "billing": {"PJSIP/1001": False, "PJSIP/1002": True}}
    assert ("remove", {"queue": "billing", "interface": "PJSIP/1003"}) in port.calls
    assert set(members.members["1003"]) == {"support"}

    # 1002 logged out while AMI was away (its removal failed): carried out at the next resync.
    agents[1] = _view("1002", AgentState.LOGGED_OUT, ())
    members.resync(lambda: agents)
    await members.wait_synced()
    assert "PJSIP/1002" not in port.queues["support"] and "PJSIP/1002" not in port.queues["billing"]
    assert "1002" not in members.members
