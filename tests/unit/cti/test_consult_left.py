"""A consultation's leg whose own end hung up: the dialplan's ``UserEvent(CtiConsultLeft)``
(``cti-consult-connect``'s ``h``) reaches the bus as ``ConsultLeft``, raw, for the ACD to put the
caller back with the agent (proven on a real Asterisk in tests/asterisk/acd/test_hang_ups.py)."""

from __future__ import annotations

from pathlib import Path

from cti.ami import events as ev
from cti.ami.bridge import PUBLISHED_RAW
from cti.ami.translate import translate

USER_EVENT = {"Event": "UserEvent", "UserEvent": "CtiConsultLeft", "Channel": "Local/8610557@cti-external-0000001c;1",
              "Uniqueid": "18.4", "Linkedid": "18.1", "Timestamp": "1700000000.500"}


def test_the_user_event_is_consult_left_and_reaches_the_bus() -> None:
    assert translate(USER_EVENT, 0.0) == ev.ConsultLeft(
        ts=1700000000.5, channel="Local/8610557@cti-external-0000001c;1", uniqueid="18.4", linkedid="18.1")
    assert ev.ConsultLeft in PUBLISHED_RAW  # raw: the call model does not keep it from the ACD


def _section(name: str) -> list[str]:
    conf = (Path(__file__).parents[3] / "config/asterisk/extensions.conf").read_text()
    section = conf.split(f"[{name}]", 1)[1].split("\n[", 1)[0]
    return [line.strip() for line in section.splitlines() if line.strip() and not line.startswith(";")]


def test_only_a_leg_whose_own_end_hung_up_is_reported() -> None:
    """Not a leg whose Bridge() ended because the agent's leg left it (that leg is still up: it
    runs the next priority, which marks it, before anything else)."""
    lines = _section("cti-consult-connect")
    bridge = lines.index("same => n(bridge),Bridge(${CTI_CALLER},F(cti-park-agent^s^1))")
    done = lines.index("same => n,Set(CTI_CONSULT_DONE=1)")
    # Between them the release of its claim on the agent's leg (cti-consult-release: no report), and
    # the retry of a Bridge() that bridged nothing (FAILURE), which goes elsewhere.
    assert lines[bridge + 1] == "same => n,Gosub(cti-consult-release,s,1)"
    assert all("FAILURE" in line or "CTI_CONSULT_TRIES" in line for line in lines[bridge + 2:done])
    assert not any("UserEvent" in line for line in _section("cti-consult-release"))
    assert 'exten => h,1,ExecIf($["${CTI_CONSULT_DONE}" != "1"]?UserEvent(CtiConsultLeft))' in lines


def test_a_leg_the_agents_leg_left_is_reported_alone_and_waits_unless_its_transfer_was_completed() -> None:
    """The agent's phone hanging up must not take the consulted party with it: the leg reports
    itself alone and waits for the engine; after a completed transfer (CTI_TRANSFERRED) or a
    Bridge() that never bridged it hangs up, as before."""
    lines = _section("cti-consult-connect")
    done = lines.index("same => n,Set(CTI_CONSULT_DONE=1)")
    assert lines[done + 1:done + 5] == [
        'same => n,GotoIf($["${CTI_TRANSFERRED}" = "1" | "${BRIDGERESULT}" = "FAILURE"]?done)',
        "same => n,UserEvent(CtiConsultAlone)", "same => n,Goto(cti-consult-alone,s,1)", "same => n(done),Hangup()"]
    assert translate({**USER_EVENT, "UserEvent": "CtiConsultAlone"}, 0.0) == ev.ConsultAlone(
        ts=1700000000.5, channel="Local/8610557@cti-external-0000001c;1", uniqueid="18.4", linkedid="18.1")
    assert ev.ConsultAlone in PUBLISHED_RAW
    alone = _section("cti-consult-alone")
    assert alone[-2:] == ['same => n(claimed),GotoIf($["${CHANNEL_EXISTS(${CTI_HELD_CALLER})}" != "0"]?wait)',
                          "same => n,Hangup()"]  # once bridged with the caller, it ends after the caller


def test_a_parked_agent_leg_whose_own_end_hung_up_is_reported() -> None:
    """cti-park-agent's h reports the agent's phone hanging up while parked, not the leg ending itself."""
    lines = _section("cti-park-agent")
    assert 'exten => h,1,ExecIf($["${CTI_PARK_DONE}" != "1"]?UserEvent(CtiParkedLeft))' in lines
    done = lines.index("same => n(done),Set(CTI_PARK_DONE=1)")
    assert lines[done + 1] == "same => n,Hangup()"
    assert translate({**USER_EVENT, "UserEvent": "CtiParkedLeft"}, 0.0) == ev.ParkedLeft(
        ts=1700000000.5, channel="Local/8610557@cti-external-0000001c;1", uniqueid="18.4", linkedid="18.1")
    assert ev.ParkedLeft in PUBLISHED_RAW
