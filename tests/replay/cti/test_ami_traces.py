"""Recorded Asterisk 22 AMI traces (tests/fixtures/ami, see record.py) through codec, translate,
the client's correlation and the call model."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.ami import events as ev
from cti.ami.callmodel import CallModel, Phase
from cti.ami.codec import AmiFrameParser
from cti.ami.translate import WANTED, translate
from cti.events import Event
from cti.journey import CallEnded

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ami"


def replay(name: str, chunk: int = 1000) -> tuple[CallModel, list[Event], list[Event]]:
    data = (FIXTURES / f"{name}.txt").read_bytes()
    parser = AmiFrameParser(WANTED)
    model = CallModel()
    typed: list[Event] = []
    journey: list[Event] = []
    for i in range(0, len(data), chunk):  # odd chunk sizes split messages mid-header
        for msg in parser.feed(data[i:i + chunk]):
            if "ActionID" in msg and msg.get("Event") != "OriginateResponse":
                continue  # responses and list items belong to actions (the client routes them)
            e = translate(msg, 0.0)
            if e is not None:
                typed.append(e)
                journey.extend(model.apply(e))
    assert parser.version == "11.0.0"
    return model, typed, journey


@pytest.mark.parametrize("chunk", [1, 97, 1000, 1 << 20])
def test_framing_is_independent_of_chunk_boundaries(chunk: int) -> None:
    _, typed, _ = replay("bridge", chunk)
    _, reference, _ = replay("bridge", 1 << 20)
    assert typed == reference


def test_local_call_answered_then_hung_up() -> None:
    model, typed, journey = replay("local_answer")
    assert [type(e) for e in journey] == [CallEnded]
    ended = journey[0]
    assert isinstance(ended, CallEnded) and ended.cause == 16 and ended.cause_text == "Normal Clearing"
    assert model.calls() == []
    call = model.call(ended.linkedid)
    assert call is not None and len(call.channels) == 2
    one, two = sorted(call.channels, key=lambda c: c.name)
    assert one.name.endswith(";1") and two.name.endswith(";2")
    assert one.local_peer == two.uniqueid and two.local_peer == one.uniqueid
    assert one.phase is Phase.HUNGUP and one.ringing_at is not None and one.answered_at is not None
    assert 0.9 <= one.answered_at - one.ringing_at <= 1.1  # cti-sim-phone answers after Wait(1)
    assert one.talk_s is not None and 1.4 <= one.talk_s <= 1.7  # hung up 1.5 s after the answer
    assert call.duration_s is not None and 2.4 <= call.duration_s <= 2.7
    originate = [e for e in typed if isinstance(e, ev.OriginateResponse)]
    assert len(originate) == 1 and originate[0].success and originate[0].reason == 4
    assert originate[0].channel == one.name


def test_inbound_call_whose_agi_fails_is_hung_up_by_asterisk() -> None:
    model, typed, journey = replay("inbound_agi_fail")
    assert len(journey) == 1 and isinstance(journey[0], CallEnded)
    call = model.call(journey[0].linkedid)
    assert call is not None
    contexts = {e.context for e in typed if isinstance(e, ev.Newchannel)}
    assert contexts == {"cti-sim-caller"}
    hangups = [e for e in typed if isinstance(e, ev.Hangup)]
    assert len(hangups) == 2 and all(h.cause == 16 for h in hangups)
    assert call.duration_s is not None and call.duration_s < 0.5  # no AGI server: over at once


def test_two_party_bridge_folds_the_agent_call_into_the_callers() -> None:
    model, typed, journey = replay("bridge")
    # The trace (recorded unfiltered) has BridgeCreate/Destroy; the engine's user is not sent them
    # and translate ignores them: the bridge comes from its members' BridgeEnter/Leave.
    assert b"Event: BridgeCreate" in (FIXTURES / "bridge.txt").read_bytes()
    enters = [e for e in typed if isinstance(e, ev.BridgeEnter)]
    assert len(enters) == 2 and enters[0].bridge_id == enters[1].bridge_id
    # Only one call: the agent's originated leg joined the caller's Linkedid in the bridge.
    assert len(journey) == 1
    call = model.call(journey[0].linkedid)
    assert call is not None and len(call.merged) == 1 and len(call.channels) == 4
    names = sorted(c.name.rsplit("-", 1)[0] for c in call.channels)
    assert names == ["Local/1002@cti-sim-phone", "Local/1002@cti-sim-phone",
                     "Local/s@cti-sim-caller", "Local/s@cti-sim-caller"]
    assert model.call(call.merged[0]) == call  # the folded Linkedid resolves to the caller's call
    assert model.bridges() == {}


def test_bridged_peer_while_the_bridge_is_up() -> None:
    data = (FIXTURES / "bridge.txt").read_bytes()
    parser, model = AmiFrameParser(WANTED), CallModel()
    peers = None
    for msg in parser.feed(data):
        if "ActionID" in msg and msg.get("Event") != "OriginateResponse":
            continue
        e = translate(msg, 0.0)
        if e is None:
            continue
        model.apply(e)
        if isinstance(e, ev.BridgeEnter) and peers is None and len(model.bridges()[e.bridge_id]) == 2:
            caller = model.bridged_peer(e.channel)  # the agent entered second
            assert caller is not None
            agent = model.bridged_peer(caller.name)
            assert agent is not None and agent.name == e.channel
            peers = (caller.name, agent.name, caller.linkedid, agent.linkedid)
    assert peers is not None
    caller_name, agent_name, caller_linkedid, agent_linkedid = peers
    assert caller_name.startswith("Local/s@cti-sim-caller-") and caller_name.endswith(";1")
    assert agent_name.startswith("Local/1002@cti-sim-phone-") and agent_name.endswith(";1")
    assert caller_linkedid == agent_linkedid


def test_blind_transfer_is_recorded_on_the_call() -> None:
    model, _, journey = replay("blind_transfer")
    assert len(journey) == 1
    call = model.call(journey[0].linkedid)
    assert call is not None and len(call.transfers) == 1
    transfer = call.transfers[0]
    assert transfer.kind == "blind" and transfer.success and transfer.target == "1004@cti-sim-phone"
    transferee = next(c for c in call.channels if c.uniqueid == transfer.transferee)
    assert transferee.name.startswith("Local/s@cti-sim-caller-")
    assert transferee.exten == "s"  # snapshot of its last Newstate/Newchannel fields
    assert call.duration_s is not None and 3.0 <= call.duration_s <= 4.5
