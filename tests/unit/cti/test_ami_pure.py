"""Pure parts of cti.ami: framing, injection refusal, backoff, call-model resync semantics."""

from __future__ import annotations

import asyncio

import pytest

from cti.ami import events as ev
from cti.ami.backoff import Backoff
from cti.ami.call_outcomes import handling
from cti.ami.callmodel import CallModel, Phase
from cti.ami.codec import AmiFrameParser, encode_action, parse_block
from cti.ami.control import AmiCallControl, FakeCallControl
from cti.ami.manager import AmiReply
from cti.errors import AmiActionFailed, AmiNoReply, UnsafeValue
from cti.journey import CallEnded

INJECTION = "1001\r\nAction: Originate\r\nChannel: Local/666@evil\r\nApplication: System"


def test_parser_handles_greeting_split_messages_and_duplicates() -> None:
    p = AmiFrameParser({"Newchannel"})
    data = (b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: a\r\n\r\n"
            b"Event: Newexten\r\nChannel: x\r\n\r\nEvent: Newchannel\r\nChannel: y\r\nAccountCode: \r\n\r\n"
            b"Event: VarSet\r\nActionID: z\r\n\r\nResponse: Success\r\nOutput: a\r\nOutput: b\r\n\r\n")
    out = [m for i in range(0, len(data), 7) for m in p.feed(data[i:i + 7])]
    assert p.version == "11.0.0"
    assert out == [{"Response": "Success", "ActionID": "a"}, {"Event": "Newchannel", "Channel": "y", "AccountCode": ""},
                   {"Event": "VarSet", "ActionID": "z"}, {"Response": "Success", "Output": "a\nb"}]
    assert p.dropped == 1  # Newexten without an ActionID was never split into headers
    assert parse_block("Event: X\r\nno colon here\r\nKey:value") == {"Event": "X", "Key": "value"}


def test_encode_action_refuses_crlf_and_names_the_header() -> None:
    assert encode_action("Ping", "1", {}) == b"Action: Ping\r\nActionID: 1\r\n\r\n"
    wire = encode_action("Originate", "2", {"Variable": ["A=1", "B=2"]})
    assert wire.endswith(b"Variable: A=1\r\nVariable: B=2\r\n\r\n")
    with pytest.raises(UnsafeValue) as err:
        encode_action("Originate", "3", {"Channel": INJECTION})
    assert err.value.field == "Channel"
    with pytest.raises(UnsafeValue):
        encode_action("Originate", "3", {"Bad Header": "x"})


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []

    async def send_action(self, action, headers, *, expect="response", timeout_s=10.0):  # type: ignore[no-untyped-def]
        encode_action(action, "t", headers)
        self.sent.append((action, dict(headers)))
        final = {"Event": "OriginateResponse", "Response": "Success", "Reason": "4",
                 "Channel": headers.get("Channel", ""), "Uniqueid": "123.4"} if expect == "originate" else None
        # Hold's marks read back cleared: the legs have landed (test_hold_waits_for_its_legs_to_land).
        value = "" if headers.get("Variable") in ("CTI_HOLDING", "CTI_PARKING") else "v"
        return AmiReply({"Response": "Success", "Value": value}, (), final)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"channel": INJECTION, "context": "c", "exten": "s"}, "Channel"),
    ({"channel": "Local/1@c", "context": "c\nX: y", "exten": "s"}, "Context"),
    ({"channel": "Local/1@c", "context": "c", "exten": "s", "caller_id": "A <1>\r\n"}, "CallerID"),
    ({"channel": "Local/1@c", "context": "c", "exten": "s", "variables": {"CTI_X": "1\r\nAction: Hangup"}}, "Variable"),
    ({"channel": "Local/1@c", "application": "Wait", "data": "5\x00"}, "Data"),
])
async def test_originate_injection_is_refused_before_sending(kwargs: dict[str, object], field: str) -> None:
    sender = RecordingSender()
    control = AmiCallControl(sender)
    with pytest.raises(UnsafeValue) as err:
        await control.originate(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field
    assert sender.sent == []
    fake = FakeCallControl()
    with pytest.raises(UnsafeValue) as err:
        await fake.originate(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field and fake.calls == []


async def test_other_controls_check_their_values() -> None:
    sender = RecordingSender()
    control = AmiCallControl(sender)
    with pytest.raises(UnsafeValue) as err:
        await control.hangup("SIP/1\r\nAction: Command")
    assert err.value.field == "Channel"
    with pytest.raises(UnsafeValue):
        await control.play_dtmf("Local/1@c;1", "12")
    with pytest.raises(UnsafeValue):
        await control.spy("PJSIP/1005", "PJSIP/1001,x", "listen")
    with pytest.raises(UnsafeValue):
        await control.set_var("Local/1@c;1", "A=B", "1")
    assert sender.sent == []
    result = await control.originate("Local/1001@cti-sim-phone", context="cti-sim-caller", exten="s")
    assert result.success and result.reason == 4 and result.uniqueid == "123.4"
    action, headers = sender.sent[-1]
    assert action == "Originate" and headers["Async"] == "true" and str(headers["ChannelId"]).startswith("cti-")
    await control.spy("PJSIP/1005", "PJSIP/1001-00000001", "whisper")
    assert sender.sent[-1][1]["Application"] == "ChanSpy" and sender.sent[-1][1]["Data"] == "PJSIP/1001-00000001,qwE"
    await control.hold("Local/s@cti-sim-caller-1;1", peer="PJSIP/1001-2")
    redirect = next(h for a, h in sender.sent if a == "Redirect")
    assert redirect["ExtraChannel"] == "PJSIP/1001-2" and redirect["Context"] == "cti-hold"
    assert redirect["ExtraContext"] == "cti-park-agent"
    await control.unhold("Local/s@cti-sim-caller-1;1")
    assert sender.sent[-1] == ("Bridge", {"Channel1": "PJSIP/1001-2", "Channel2": "Local/s@cti-sim-caller-1;1",
                                          "Tone": "no"})
    assert await control.get_var("x", "CTI_Q") == "v"


async def test_hold_names_the_partner_on_the_held_party_and_refuses_a_bad_name_before_sending() -> None:
    """With no engine left, cti-hold bridges the held caller back with the leg named in CTI_HOLD_PEER:
    Hold writes it on the caller before the Redirect; a name with CR/LF sends nothing at all."""
    sender = RecordingSender()
    control = AmiCallControl(sender)
    await control.hold("Local/s@cti-sim-caller-1;1", peer="PJSIP/1001-2")
    assert [(a, h.get("Channel"), h.get("Variable"), h.get("Value")) for a, h in sender.sent[:4]] == [
        ("Setvar", "Local/s@cti-sim-caller-1;1", "CTI_HOLDING", "1"),
        ("Setvar", "Local/s@cti-sim-caller-1;1", "CTI_HOLD_PEER", "PJSIP/1001-2"),
        ("Setvar", "PJSIP/1001-2", "CTI_HELD_CALLER", "Local/s@cti-sim-caller-1;1"),
        ("Setvar", "PJSIP/1001-2", "CTI_PARKING", "1")]
    assert sender.sent[4][0] == "Redirect" and len(sender.sent) == 7
    for channel, peer, field in (("Local/s@x-1;1", "PJSIP/1001-2\r\nAction: Command", "ExtraChannel"),
                                 ("Local/s@x-1;1\nX: y", "PJSIP/1001-2", "Channel")):
        sent = RecordingSender()
        with pytest.raises(UnsafeValue) as err:
            await AmiCallControl(sent).hold(channel, peer=peer)
        assert err.value.field == field and sent.sent == []


class LandingSender(RecordingSender):
    """Hold's marks stay set for ``polls`` reads, or the channel is missing for ``missing`` reads."""

    def __init__(self, polls: int = 0, missing: int = 0) -> None:
        super().__init__()
        self.polls, self.missing = polls, missing
        self.refuse = False

    async def send_action(self, action, headers, *, expect="response", timeout_s=10.0):  # type: ignore[no-untyped-def]
        reply = await super().send_action(action, headers, expect=expect, timeout_s=timeout_s)
        if action != "Getvar" or headers["Variable"] != "CTI_PARKING":
            return reply
        if self.refuse:
            raise AmiNoReply("Getvar: no answer within 10 s")
        if self.missing:
            self.missing -= 1
            raise AmiActionFailed("Getvar: No such channel")
        if self.polls:
            self.polls -= 1
            return AmiReply({"Response": "Success", "Value": "1"}, (), None)
        return reply


async def test_hold_waits_for_its_legs_to_land() -> None:
    """Hold returns once the parked leg's mark is cleared (it reads it again meanwhile); a leg that
    stays missing (hung up) ends the wait instead of holding the agent's Hold up."""
    sender = LandingSender(polls=3)
    await AmiCallControl(sender).hold("Local/s@x-1;1", peer="PJSIP/1001-2")
    reads = [h["Channel"] for a, h in sender.sent if a == "Getvar"]
    assert reads.count("PJSIP/1001-2") == 4 and reads.count("Local/s@x-1;1") == 1
    gone = LandingSender(missing=1000)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await AmiCallControl(gone).hold("Local/s@x-1;1", peer="PJSIP/1001-2")
    assert loop.time() - started < 1.0 and gone.missing > 900
    # Asterisk not answering the question (or the connection gone): the Redirect was taken, the
    # hold stands (the call is on hold for the engine too), logged.
    mute = LandingSender(polls=1000)
    mute.refuse = True
    await AmiCallControl(mute).hold("Local/s@x-1;1", peer="PJSIP/1001-2")
    assert mute.polls == 1000


def test_backoff_doubles_caps_and_resets() -> None:
    b = Backoff(0.5, 15.0)
    assert [b.next_delay() for _ in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]
    b.reset()
    assert b.next_delay() == 0.5
    j = Backoff(1.0, 4.0, jitter=0.5, rand=lambda: 1.0)
    assert j.next_delay() == 0.5
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def _chan(uid: str, name: str, linkedid: str, state: int, ts: float) -> ev.Newchannel:
    return ev.Newchannel(ts=ts, channel=name, uniqueid=uid, linkedid=linkedid, state=state)


def _snap(uid: str, name: str, linkedid: str, state: int, duration_s: int = 0, bridge: str = "") -> ev.ChannelSnapshot:
    return ev.ChannelSnapshot(ts=100.0, channel=name, uniqueid=uid, linkedid=linkedid, state=state,
                              duration_s=duration_s, bridge_id=bridge)


def test_resync_ends_vanished_calls_adds_unknown_ones_and_keeps_newer_live_events() -> None:
    m = CallModel()
    m.apply(_chan("1", "PJSIP/a-1", "1", 6, 10.0))  # will vanish while we are away
    m.apply(_chan("2", "PJSIP/b-2", "2", 5, 11.0))  # still there, answered meanwhile
    assert m.apply(ev.ResyncStarted(ts=99.0)) == []
    m.apply(_chan("5", "PJSIP/e-5", "5", 4, 99.5))  # born during the resync, not in the snapshot
    m.apply(_chan("6", "PJSIP/f-6", "6", 4, 99.6))
    m.apply(ev.Hangup(ts=99.7, channel="PJSIP/f-6", uniqueid="6", linkedid="6", cause=16))
    for e in (_snap("2", "PJSIP/b-2", "2", 6), _snap("3", "Local/x@c-1;1", "3", 6, 40, "br1"),
              _snap("4", "Local/x@c-1;2", "3", 6, 40), _snap("6", "PJSIP/f-6", "6", 4),
              ev.BridgeSnapshot(ts=100.0, bridge_id="br1", uniqueids=("3",))):
        assert m.apply(e) == []
    out = m.apply(ev.ResyncFinished(ts=100.0))
    assert out == [CallEnded(ts=100.0, linkedid="1", cause=0, cause_text="ended while AMI was disconnected")]
    assert {c.linkedid for c in m.calls()} == {"2", "3", "5"}  # 6 hung up during the resync: not resurrected
    b = m.channel("PJSIP/b-2")
    assert b is not None and b.phase is Phase.UP and b.answered_at == 100.0
    x1 = m.channel("Local/x@c-1;1")
    assert x1 is not None and x1.created == 60.0 and x1.local_peer == "4" and x1.bridge_id == "br1"
    assert m.bridges() == {"br1": ("3",)}
    assert m.channel("5") is not None


def test_illegal_steps_are_ignored_not_fatal() -> None:
    m = CallModel()
    m.apply(_chan("1", "PJSIP/a-1", "1", 6, 1.0))
    m.apply(ev.Newstate(ts=2.0, channel="PJSIP/a-1", uniqueid="1", linkedid="1", state=5))  # Up -> Ringing
    chan = m.channel("1")
    assert chan is not None and chan.phase is Phase.UP and chan.ringing_at is None
    assert m.apply(ev.Hangup(ts=3.0, channel="PJSIP/a-1", uniqueid="1", linkedid="1", cause=17))[0] == CallEnded(
        ts=3.0, linkedid="1", cause=17, cause_text="")
    assert m.apply(ev.Hangup(ts=4.0, channel="PJSIP/a-1", uniqueid="1", linkedid="1")) == []


class FlakySender(RecordingSender):
    """Answers "does not exist" ``misses`` times (a channel in the middle of a masquerade)."""

    def __init__(self, misses: int, message: str = "Channel does not exist: Local/s@cti-queue-1;2") -> None:
        super().__init__()
        self.misses, self.message = misses, message

    async def send_action(self, action, headers, *, expect="response", timeout_s=10.0):  # type: ignore[no-untyped-def]
        if self.misses:
            self.misses -= 1
            self.sent.append((action, dict(headers)))
            raise AmiActionFailed(f"{action}: {self.message}")
        return await super().send_action(action, headers, expect=expect, timeout_s=timeout_s)


async def test_redirect_and_bridge_wait_out_a_channel_being_moved() -> None:
    sender = FlakySender(misses=2)
    await AmiCallControl(sender).redirect("Local/s@cti-queue-1;2", "cti-queue", "s")
    assert [a for a, _ in sender.sent] == ["Redirect"] * 3
    sender = FlakySender(misses=1)
    await AmiCallControl(sender).bridge("PJSIP/1001-2", "Local/s@cti-queue-1;2")
    assert [a for a, _ in sender.sent] == ["Bridge"] * 2
    # A Resume the instant Hold returned: the caller is still leaving the agent's bridge.
    sender = FlakySender(misses=2, message="Unable to add Channel2 to bridge")
    await AmiCallControl(sender).bridge("PJSIP/1001-2", "Local/s@cti-queue-1;2")
    assert [a for a, _ in sender.sent] == ["Bridge"] * 3
    # Only Bridge says so; a Redirect's other errors are believed at once.
    sender = FlakySender(misses=2, message="Unable to add Channel2 to bridge")
    with pytest.raises(AmiActionFailed, match="Unable to add"):
        await AmiCallControl(sender).redirect("Local/s@cti-queue-1;2", "cti-queue", "s")
    assert len(sender.sent) == 1


async def test_hangup_transfer_and_dtmf_wait_out_a_channel_being_moved() -> None:
    """Those actions say "No such channel" for the same instant (an agent hanging up as the call connects)."""
    control = AmiCallControl(sender := FlakySender(misses=2, message="No such channel"))
    await control.hangup("Local/s@cti-queue-1;2")
    assert [a for a, _ in sender.sent] == ["Hangup"] * 3
    # A clean-up of a leg that has most likely hung up already believes the first answer.
    gone = FlakySender(misses=10, message="No such channel")
    with pytest.raises(AmiActionFailed, match="No such channel"):
        await AmiCallControl(gone).hangup("PJSIP/1001-7", may_be_gone=True)
    assert len(gone.sent) == 1
    for act, name in ((lambda c: c.blind_transfer("PJSIP/1001-2", "cti-agents", "1002"), "BlindTransfer"),
                      (lambda c: c.attended_transfer("PJSIP/1001-2", "1002", "cti-agents"), "Atxfer"),
                      (lambda c: c.play_dtmf("Local/s@cti-queue-1;2", "5"), "PlayDTMF")):
        sender = FlakySender(misses=1, message="No such channel")
        await act(AmiCallControl(sender))
        assert [a for a, _ in sender.sent] == [name] * 2


async def test_a_channel_that_stays_gone_or_another_error_is_reported() -> None:
    gone = FlakySender(misses=10)
    with pytest.raises(AmiActionFailed, match="does not exist"):
        await AmiCallControl(gone).redirect("Local/s@cti-queue-1;2", "cti-queue", "s")
    assert len(gone.sent) == 4  # the first try and three more over ~170 ms
    refused = FlakySender(misses=10, message="Permission denied")
    with pytest.raises(AmiActionFailed, match="Permission denied"):
        await AmiCallControl(refused).bridge("PJSIP/1001-2", "Local/s@cti-queue-1;2")
    assert len(refused.sent) == 1


def test_resync_after_an_asterisk_restart_ends_cut_calls_at_the_loss_as_system_failures() -> None:
    m = CallModel()
    m.apply(_chan("1", "PJSIP/a-1", "1", 6, 10.0))  # talking when Asterisk died
    m.apply(_chan("2", "Local/q@c-1;1", "2", 4, 11.0))  # waiting when Asterisk died
    m.apply(ev.ResyncStarted(ts=99.0, pbx_restarted=True, lost_at=42.0))
    out = m.apply(ev.ResyncFinished(ts=100.0))
    cause = "system failure: Asterisk restarted"
    assert sorted(out, key=lambda e: e.ts) == [
        CallEnded(ts=42.0, linkedid="1", cause=0, cause_text=cause, system_failure=True),
        CallEnded(ts=42.0, linkedid="2", cause=0, cause_text=cause, system_failure=True)]
    call = m.call("1")
    assert call is not None and call.ended_at == 42.0


def test_the_engine_ami_user_is_sent_exactly_the_events_the_engine_translates() -> None:
    import re

    from cti.ami.translate import WANTED
    from cti.settings import DEFAULT_CONFIG_DIR

    conf = (DEFAULT_CONFIG_DIR / "asterisk" / "manager.conf").read_text()
    user = conf[conf.index("[@@ami_user@@]"):]
    filtered = set(re.findall(r"^eventfilter\(action\(include\),name\((\w+)\)", user, re.M))
    assert filtered == set(WANTED)
    # Read by raw observers only (the observer user): never sent to the engine's session.
    assert not {"DTMFEnd", "MusicOnHoldStart", "MusicOnHoldStop", "DialBegin", "BridgeCreate",
                "BridgeDestroy"} & filtered
    assert "dtmf" not in re.search(r"^read = (\S+)$", user, re.M).group(1).split(",")  # type: ignore[union-attr]
    # Device states: agents' PJSIP phones only, and not the states nobody reads (every call's two).
    assert re.search(r"^eventfilter\(action\(include\),name\(DeviceStateChange\),header\(Device\),"
                     r"method\(starts_with\)\) = PJSIP/$", user, re.M)
    assert "name(DeviceStateChange)) =" not in user  # no name-only include letting every device through
    # Events Asterisk builds for nobody (manager.conf [general] disabledevents): never one the engine reads.
    disabled = set(re.search(r"^disabledevents = (\S+)$", conf, re.M).group(1).split(","))  # type: ignore[union-attr]
    assert {"VarSet", "Newexten"} <= disabled and not disabled & set(WANTED)
    # nor one the e2e bench's timing listener or the tests' own AMI taps (the observer user) wait for
    assert not disabled & {"DTMFEnd", "MusicOnHoldStart", "QueueCallerJoin", "AgentCalled", "ConfbridgeJoin"}


def test_a_calls_end_carries_the_queue_the_engine_knows_for_it() -> None:
    """call.ended said queue: null in the public feed for a queued call: the call model knows no
    queue, the ACD does (``queue_of``, given by the composition root)."""
    m = CallModel(queue_of={"1": "support"}.get)
    m.apply(_chan("1", "PJSIP/a-1", "1", 6, 1.0))
    m.apply(_chan("2", "PJSIP/b-1", "2", 6, 1.0))
    assert m.apply(ev.Hangup(ts=3.0, channel="PJSIP/a-1", uniqueid="1", linkedid="1", cause=16))[0].queue == "support"
    assert m.apply(ev.Hangup(ts=3.0, channel="PJSIP/b-1", uniqueid="2", linkedid="2", cause=16))[0].queue is None


def test_a_calls_end_carries_the_agent_and_customer_the_engine_knows_for_it() -> None:
    """call.ended had no agent and no customer: the ACD knows them (``handling_of``). A call folded
    into another gives its customer to the end of the survivor when the survivor has none."""
    known = {"1": ("a7", 42), "3": ("a8", None), "4": (None, 43)}
    m = CallModel(handling_of=lambda lid: known.get(lid, (None, None)))
    m.apply(_chan("1", "PJSIP/a-1", "1", 6, 1.0))
    m.apply(_chan("2", "PJSIP/b-1", "2", 6, 1.0))
    end = m.apply(ev.Hangup(ts=3.0, channel="PJSIP/a-1", uniqueid="1", linkedid="1", cause=16))[0]
    assert (end.agent_id, end.customer_id) == ("a7", 42)
    end = m.apply(ev.Hangup(ts=3.0, channel="PJSIP/b-1", uniqueid="2", linkedid="2", cause=16))[0]
    assert (end.agent_id, end.customer_id) == (None, None)
    assert handling(lambda lid: known.get(lid, (None, None)), "3", ["4"]) == ("a8", 43)


async def test_get_var_reads_the_dialplan_functions_set_variables_writes_and_nothing_else() -> None:
    """Getvar takes a dialplan function as its Variable: the IVR sets CHANNEL(language) (AGI's
    set_variables admits it) and the engine may read it back; a function that runs commands or
    reads files or AstDB (SHELL, FILE, DB), or a name with CR/LF, is refused before anything is sent."""
    sender = RecordingSender()
    control = AmiCallControl(sender)
    fake = FakeCallControl(variables={("PJSIP/1001-1", "CHANNEL(language)"): "zh"})
    assert await control.get_var("PJSIP/1001-1", "CHANNEL(language)") == "v"
    assert sender.sent == [("Getvar", {"Channel": "PJSIP/1001-1", "Variable": "CHANNEL(language)"})]
    assert await fake.get_var("PJSIP/1001-1", "CHANNEL(language)") == "zh"
    for name in ("CHANNEL(language)\r\nAction: Originate", "CHANNEL(language)\n", "SHELL(id)", "FILE(/etc/passwd)",
                 "DB(cti/secret)", "CHANNEL(language", "CHANNEL(language),SHELL(id)", "CHANNEL(language))",
                 "CHANNEL(peerip)", "${SHELL(id)}", "CTI_Q\r\nAction: Hangup", ""):
        for c in (control, fake):
            with pytest.raises(UnsafeValue) as err:
                await c.get_var("PJSIP/1001-1", name)
            assert err.value.field == "Variable", name
    assert len(sender.sent) == 1 and len(fake.calls) == 1
