"""A party who hung up in a three-way conference: the dialplan's ``UserEvent(CtiConferenceLeft)``
(``cti-conference``'s ``h``) reaches the bus as ``ConferenceLeft``, raw, for the ACD to drop them
from the call (proven on a real Asterisk in tests/asterisk/acd/test_transfers.py)."""

from __future__ import annotations

from pathlib import Path

from cti.ami import events as ev
from cti.ami.bridge import PUBLISHED_RAW
from cti.ami.translate import translate

USER_EVENT = {"Event": "UserEvent", "UserEvent": "CtiConferenceLeft", "Channel": "Local/1002@cti-sim-phone-0000001a;1",
              "Uniqueid": "17.9", "Linkedid": "17.3", "Timestamp": "1700000000.250"}


def test_the_user_event_is_conference_left_and_reaches_the_bus() -> None:
    assert translate(USER_EVENT, 0.0) == ev.ConferenceLeft(
        ts=1700000000.25, channel="Local/1002@cti-sim-phone-0000001a;1", uniqueid="17.9", linkedid="17.3")
    assert ev.ConferenceLeft in PUBLISHED_RAW  # raw: the call model does not keep it from the ACD


def test_only_a_party_whose_own_end_hung_up_is_reported() -> None:
    """Not the parties the caller's leaving let go (ConfBridge's result ENDMARKED): that is the call's end."""
    conf = (Path(__file__).parents[3] / "config/asterisk/extensions.conf").read_text()
    section = conf.split("[cti-conference]", 1)[1].split("\n[", 1)[0]
    assert 'exten => h,1,ExecIf($["${CONFBRIDGE_RESULT}" = "HANGUP"]?UserEvent(CtiConferenceLeft))' in section
