"""The dialplan's voicemail report (UserEvent CtiVoicemail) through the AMI translation and the
call model: a message left (VMSTATUS SUCCESS) is ``VoicemailLeft`` for the caller's call; any other
status, or somebody else's UserEvent, is nothing."""

from __future__ import annotations

import pytest

from cti.ami import events as ev
from cti.ami.callmodel import CallModel
from cti.ami.translate import translate
from cti.journey import VoicemailLeft

REPORT = {"Event": "UserEvent", "UserEvent": "CtiVoicemail", "Channel": "Local/s@cti-voicemail-00000003;2",
          "Uniqueid": "v.2", "Linkedid": "v.1", "Mailbox": "8000@cti", "Status": "SUCCESS", "Timestamp": "12.5"}


def test_translation() -> None:
    assert translate(REPORT, 0.0) == ev.VoicemailResult(ts=12.5, channel=REPORT["Channel"], uniqueid="v.2",
                                                        linkedid="v.1", mailbox="8000@cti", status="SUCCESS")
    assert translate({**REPORT, "UserEvent": "SomethingElse"}, 0.0) is None


def _caller(model: CallModel) -> None:
    model.apply(ev.Newchannel(ts=1.0, channel="Local/s@cti-voicemail-00000003;2", uniqueid="v.2", linkedid="v.1",
                              state=6, caller_num="+8613800138000", caller_name="", context="cti-voicemail",
                              exten="s"))


def test_a_message_left_is_voicemail_left_for_the_callers_call() -> None:
    model = CallModel()
    _caller(model)
    out = model.apply(ev.VoicemailResult(ts=12.5, channel="Local/s@cti-voicemail-00000003;2", uniqueid="v.2",
                                         linkedid="stale", mailbox="8000@cti", status="SUCCESS"))
    assert out == [VoicemailLeft(ts=12.5, linkedid="v.1", mailbox="8000@cti")]  # the channel's call wins


@pytest.mark.parametrize("status", ["USEREXIT", "FAILED", ""])
def test_no_message_no_event(status: str) -> None:
    model = CallModel()
    _caller(model)
    assert model.apply(ev.VoicemailResult(ts=3.0, channel="Local/s@cti-voicemail-00000003;2", uniqueid="v.2",
                                          linkedid="v.1", mailbox="8000@cti", status=status)) == []
