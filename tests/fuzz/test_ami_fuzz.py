"""AMI codec, translation and call model under random and mutated input.

Allowed outcomes: the parser returns header dicts, translation returns a typed event, None, or
raises its own ``MalformedEvent``; the call model never raises; the client's reader path
(``AmiClient._on_data``, inside asyncio's data_received) never raises at all.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami import events as ev
from cti.ami.callmodel import CallModel, Phase
from cti.ami.codec import AmiFrameParser, parse_block
from cti.ami.errors import MalformedEvent
from cti.ami.manager import AmiClient
from cti.ami.translate import WANTED, translate, translate_list_item
from cti.events import Event
from cti.settings import AmiSettings
from tests.fuzz.conftest import FUZZ

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
TRACES = {p.stem: p.read_bytes() for p in sorted(FIXTURES.glob("*.txt"))}
LIST_ITEMS = ("CoreShowChannel", "EndpointList", "DeviceStateChange", "BridgeInfoChannel")

# Values that have broken parsers before, next to arbitrary text.
_ODD_VALUES = ["", " ", "nan", "inf", "-inf", "1e999", "-1", "0", "99999999999999999999", "<unknown>", "1.5",
               "6", "4", "Local/1@c-00000001;1", "Local/1@c-00000001;2", ":", ": ", "\x00", "é", "\ufffd",
               "00:00:05", "99:99", "ANSWER", "BUSY", "SUCCESS", "CtiVoicemail", "Success", "Complete"]
values = st.one_of(st.sampled_from(_ODD_VALUES), st.text(max_size=24))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@st.composite
def mutated_trace(draw: st.DrawFn) -> bytes:
    """A recorded trace (a random window of it) with line- and byte-level damage."""
    data = TRACES[draw(st.sampled_from(sorted(TRACES)))]
    lines = data.split(b"\r\n")
    start = draw(st.integers(0, len(lines) - 1))
    lines = lines[start:start + draw(st.integers(1, 400))]
    if start:
        lines.insert(0, b"Asterisk Call Manager/11.0.0")
    for _ in range(draw(st.integers(0, 16))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "value", "truncate", "junk", "swap", "flip", "blank"]))
        line = lines[i]
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "value":
            key = line.split(b": ", 1)[0]
            lines[i] = key + b": " + draw(values).encode("utf-8", "surrogatepass")
        elif op == "truncate":
            lines[i] = line[:draw(st.integers(0, max(len(line) - 1, 0)))]
        elif op == "junk":
            lines.insert(i, draw(st.binary(max_size=40)))
        elif op == "swap":  # another line's value: ids, channels and bridges get cross-linked
            j = draw(st.integers(0, len(lines) - 1))
            a, b = line.split(b": ", 1), lines[j].split(b": ", 1)
            if len(a) == 2 and len(b) == 2:
                lines[i], lines[j] = a[0] + b": " + b[1], b[0] + b": " + a[1]
        elif op == "flip" and line:
            k = draw(st.integers(0, len(line) - 1))
            lines[i] = line[:k] + bytes([line[k] ^ (1 << draw(st.integers(0, 7)))]) + line[k + 1:]
        elif op == "blank":
            lines.insert(i, b"")
        if not lines:
            lines = [b""]
    return b"\r\n".join(lines)


def _check_model(model: CallModel) -> None:
    """What the rest of the engine reads from the model stays coherent."""
    for call in model.calls():
        assert call.live, f"call {call.linkedid} is listed as live without a live channel"
        for chan in call.live:
            assert chan.phase is not Phase.HUNGUP
            assert model.channel(chan.uniqueid) is not None
    model.bridges()


def ingest(data: bytes, cuts: list[int], resync_at: set[int]) -> tuple[CallModel, int]:
    """The client's path without the socket: frame, route list items, translate, fold."""
    parser = AmiFrameParser(WANTED)
    model = CallModel()
    seen = 0
    for chunk in _split(data, cuts):
        for m in parser.feed(chunk):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in m.items())
            seen += 1
            if seen in resync_at:
                model.apply(ev.ResyncStarted(ts=float(seen)))
            is_item = "ActionID" in m and m.get("Event") != "OriginateResponse"
            try:
                e = translate_list_item(m, float(seen)) if is_item else translate(m, float(seen))
            except MalformedEvent:
                continue
            if e is not None:
                assert isinstance(e, Event)
                model.apply(e)
            if seen - 1 in resync_at:
                model.apply(ev.ResyncFinished(ts=float(seen), channels=0, bridges=0))
    _check_model(model)
    return model, seen


@FUZZ
@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=8))
def test_random_bytes_never_break_the_framing(data: bytes, cuts: list[int]) -> None:
    parser = AmiFrameParser(WANTED)
    for chunk in _split(b"Asterisk Call Manager/11.0.0\r\n" + data, cuts):
        for m in parser.feed(chunk):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in m.items())


@FUZZ
@given(st.text(max_size=300))
def test_any_block_parses_to_headers_or_nothing(block: str) -> None:
    msg = parse_block(block)
    assert msg is None or all(isinstance(k, str) and isinstance(v, str) for k, v in msg.items())


@settings(FUZZ, max_examples=400)  # the main target: more damage patterns per run
@given(mutated_trace(), st.lists(st.integers(0, 50_000), max_size=6), st.sets(st.integers(1, 200), max_size=3))
def test_mutated_recorded_traces_through_codec_translate_and_model(data: bytes, cuts: list[int],
                                                                   resync_at: set[int]) -> None:
    ingest(data, cuts, resync_at)


_HEADERS = ["Channel", "Uniqueid", "Linkedid", "ChannelState", "CallerIDNum", "ConnectedLineNum", "Context",
            "Exten", "Timestamp", "Cause", "Cause-txt", "DestChannel", "DestUniqueid", "DestLinkedid", "DialStatus",
            "BridgeUniqueid", "BridgeType", "LocalOneChannel", "LocalOneUniqueid", "LocalTwoChannel",
            "LocalTwoUniqueid", "LocalOneLinkedid", "Digit", "DurationMs", "Class", "ActionID", "Response",
            "Reason", "Result", "TransfererUniqueid", "TransfereeUniqueid", "TransfereeLinkedid",
            "TransferTargetUniqueid", "Device", "State", "EndpointName", "UserEvent", "Mailbox", "Status",
            "Duration", "BridgeId", "ObjectName", "DeviceState", "Extension"]
# A small pool of ids so that the random events keep meeting the same channels, calls and bridges.
_IDS = ["u1", "u2", "u3", "u4", "b1", "b2", ""]
_CHANNELS = ["PJSIP/1001-00000001", "PJSIP/1002-00000002", "Local/5000@q-00000003;1", "Local/5000@q-00000003;2"]
_ID_HEADERS = {"Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid", "BridgeUniqueid", "LocalOneUniqueid",
               "LocalTwoUniqueid", "LocalOneLinkedid", "TransfererUniqueid", "TransfereeUniqueid",
               "TransfereeLinkedid", "TransferTargetUniqueid", "BridgeId"}
_CHANNEL_HEADERS = {"Channel", "DestChannel", "LocalOneChannel", "LocalTwoChannel"}


@st.composite
def ami_message(draw: st.DrawFn) -> dict[str, str]:
    msg = {"Event": draw(st.sampled_from(sorted(WANTED | set(LIST_ITEMS))))}
    for key in draw(st.lists(st.sampled_from(_HEADERS), max_size=10, unique=True)):
        if key in _ID_HEADERS:
            msg[key] = draw(st.one_of(st.sampled_from(_IDS), values))
        elif key in _CHANNEL_HEADERS:
            msg[key] = draw(st.one_of(st.sampled_from(_CHANNELS), values))
        elif key in {"ChannelState", "Cause", "Reason"}:
            msg[key] = draw(st.one_of(st.integers(-2, 12).map(str), values))
        else:
            msg[key] = draw(values)
    return msg


@settings(FUZZ, max_examples=400)
@given(st.lists(st.one_of(ami_message(), st.sampled_from(["resync-start", "resync-end"])), max_size=60))
def test_random_event_sequences_never_break_the_call_model(steps: list[dict[str, str] | str]) -> None:
    model = CallModel()
    for n, step in enumerate(steps):
        if step == "resync-start":
            model.apply(ev.ResyncStarted(ts=float(n)))
            continue
        if step == "resync-end":
            model.apply(ev.ResyncFinished(ts=float(n), channels=0, bridges=0))
            continue
        assert isinstance(step, dict)
        for fn in (translate, translate_list_item):
            try:
                e = fn(step, float(n))
            except MalformedEvent as err:
                assert err.event == step["Event"]
                continue
            if e is not None:
                model.apply(e)
    _check_model(model)


@FUZZ
@given(mutated_trace(), st.lists(st.integers(0, 50_000), max_size=6))
def test_the_clients_reader_path_never_raises(data: bytes, cuts: list[int]) -> None:
    """``_on_data`` runs inside data_received: an exception there would drop the connection."""
    out: list[Event] = []
    client = AmiClient(AmiSettings(), out.extend, clock=lambda: 1.0)
    for chunk in _split(data, cuts):
        client._on_data(chunk)
    assert all(isinstance(e, Event) for e in out)
