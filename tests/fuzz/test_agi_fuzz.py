"""AGI protocol under random and mutated input: reply parsing, the agi_* header, command building,
whole conversations over FastAgiSession, and the real FastAGI server fed random peers.

Allowed outcomes: a parsed reply, or the module's own errors (``AgiHangup`` and its ``AgiTimeout``,
``AgiCommandError``, ``UnsafeValue``); never another exception, never a hang, never a command line
that smuggles a second line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cti.agi.fastagi import FastAgiServer, FastAgiSession
from cti.agi.protocol import AgiCommandError, build_command, parse_env, parse_reply
from cti.agi.session import AgiReply, AgiSession
from cti.agi.stream import AgiStream
from cti.errors import AgiHangup, UnsafeValue
from cti.settings import load_settings
from tests.fuzz.conftest import FUZZ
from tests.servers import free_port

# What Asterisk 22 answers (taken from res_agi.c and the FastAGI tests), the material for mutations.
REPLIES = ["200 result=0", "200 result=1", "200 result=-1", "200 result=49", "200 result= (timeout)",
           "200 result=123 (timeout)", "200 result=1 (some (nested) value)", "200 result=0 endpos=8000",
           "100 result=0 Trying...", "HANGUP", "510 Invalid or unknown command",
           "511 Command Not Permitted on a dead channel or intercept routine",
           "520-Invalid command syntax.  Proper usage follows:", "Usage: GET DATA <file>", "520 End of proper usage."]
HEADER_LINES = ["agi_network: yes", "agi_network_script: ivr", "agi_request: agi://127.0.0.1/ivr",
                "agi_channel: PJSIP/1001-00000001", "agi_uniqueid: 1700000000.1", "agi_callerid: 1001",
                "agi_extension: 5000", "agi_context: cti-inbound", "agi_arg_1: x"]
ERRORS = (AgiHangup, AgiCommandError, UnsafeValue)


@st.composite
def mutated_line(draw: st.DrawFn, pool: list[str]) -> str:
    line = draw(st.sampled_from(pool))
    op = draw(st.sampled_from(["keep", "truncate", "insert", "replace", "random"]))
    if op == "truncate":
        return line[:draw(st.integers(0, len(line)))]
    if op == "insert":
        k = draw(st.integers(0, len(line)))
        return line[:k] + draw(st.text(max_size=8)) + line[k:]
    if op == "replace" and line:
        k = draw(st.integers(0, len(line) - 1))
        return line[:k] + draw(st.characters()) + line[k + 1:]
    if op == "random":
        return draw(st.text(max_size=40))
    return line


reply_lines = st.one_of(mutated_line(REPLIES), st.text(max_size=60))
# The replies that carry _ivr_script to its end; damaged a few lines at a time, they reach every step.
GOOD_REPLIES = ["200 result=0", "200 result=0", "200 result=5", "200 result=0", "200 result=0", "200 result=0",
                "200 result=0", "200 result=1 (L1)", "200 result=0", "200 result=1"]


@st.composite
def damaged_good_replies(draw: st.DrawFn) -> list[str]:
    lines = list(GOOD_REPLIES)
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.one_of(mutated_line([lines[i]]), mutated_line(REPLIES)))
        if draw(st.booleans()):
            lines.insert(i, "100 result=0 Trying...")
    return lines


@FUZZ
@given(reply_lines)
@example("200 result=")
@example("999")
@example("200 " + "(" * 5000)
def test_parse_reply_returns_a_reply_or_a_typed_error(line: str) -> None:
    try:
        reply = parse_reply(line)
    except ERRORS:
        return
    assert isinstance(reply, AgiReply) and reply.code == 200


@FUZZ
@given(st.lists(st.one_of(mutated_line(HEADER_LINES), st.text(max_size=40)), max_size=20))
def test_parse_env_accepts_any_header_lines(lines: list[str]) -> None:
    env = parse_env(lines)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=20), st.integers(), st.sampled_from(["STREAM FILE", "GET DATA", ""])),
                min_size=0, max_size=5))
def test_build_command_is_one_line_or_unsafe_value(words: list[object]) -> None:
    try:
        line = build_command(tuple(words))
    except UnsafeValue:
        return
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and b"\r" not in line


async def _ivr_script(agi: AgiSession) -> None:
    """The commands the IVR and the announcer send, in the order a call might."""
    await agi.answer()
    await agi.stream_file("welcome", "0123456789*#")
    await agi.get_data("menu", 3000, 4)
    await agi.wait_for_digit(2000)
    await agi.say_number(42)
    await agi.set_variables({"CTI_NEXT": "queue", "CTI_LANG": "en"})
    await agi.get_variable("CTI_CALLBACK")
    await agi.command("GET VARIABLE", "CHANNEL(linkedid)")  # as ivr.driver asks for the linkedid
    await agi.exec("SayUnixTime", "1700000000", "UTC", "ABdY")
    await agi.hangup()


def _run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro_fn())  # type: ignore[arg-type]


@FUZZ
@given(st.one_of(damaged_good_replies(), st.lists(reply_lines, max_size=30)), st.binary(max_size=30), st.booleans())
@example(GOOD_REPLIES, b"", False)
def test_whole_conversations_end_in_a_reply_or_a_typed_error(lines: list[str], tail: bytes, lf_only: bool) -> None:
    payload = ("\n" if lf_only else "\r\n").join(lines).encode("utf-8", "surrogatepass") + tail

    async def go() -> None:
        stream = AgiStream()
        stream.connection_made(_NullTransport())
        stream.data_received(payload)
        stream.eof_received()  # whatever is left unanswered ends as a hangup, never a wait
        session = FastAgiSession({"channel": "PJSIP/1001-1", "uniqueid": "1.1"}, stream, read_timeout_s=5)
        try:
            await _ivr_script(session)
        except (AgiHangup, AgiCommandError):  # the script's own words are safe: no UnsafeValue
            pass

    _run(go)


class _NullTransport(asyncio.Transport):
    def get_write_buffer_size(self) -> int:
        return 0  # the peer took every line

    def write(self, data: bytes) -> None:  # type: ignore[override]
        assert data.endswith(b"\n") and data.count(b"\n") == 1


def test_the_real_server_survives_random_peers() -> None:
    """Random and mutated bytes from a TCP peer: each connection ends (closed by the server or
    by the peer), no session is left open, and a well-behaved call is still served afterwards."""
    loop = asyncio.new_event_loop()
    served: list[str] = []

    async def ivr(agi: AgiSession) -> None:
        await _ivr_script(agi)
        served.append(agi.env.get("uniqueid", ""))

    server = FastAgiServer(load_settings(agi={"port": free_port(), "read_timeout_s": 0.2}), {"ivr": ivr})
    loop.run_until_complete(server.start())

    async def peer(payload: bytes, half_close: bool) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(payload)
        if half_close:
            writer.write_eof()
        try:
            await asyncio.wait_for(reader.read(), 5)  # the server must end it: EOF, timeout or reset
        except ConnectionResetError:
            pass
        writer.close()

    header = st.lists(mutated_line(HEADER_LINES), max_size=8).map(lambda ls: "\n".join(ls) + "\n\n")
    payloads = st.one_of(
        st.binary(max_size=300),
        st.tuples(header, st.one_of(damaged_good_replies(), st.lists(reply_lines, max_size=12))).map(
            lambda hr: (hr[0] + "\n".join(hr[1])).encode("utf-8", "surrogatepass")),
    )

    # Fewer examples here: each one is a real TCP connection (a stalled one waits read_timeout_s).
    @settings(FUZZ, max_examples=60)
    @given(payloads, st.booleans())
    def one_peer(payload: bytes, half_close: bool) -> None:
        loop.run_until_complete(peer(payload, half_close))

    try:
        one_peer()
        loop.run_until_complete(_settle(server))
        assert server.open_sessions == 0
        good = ("agi_network: yes\nagi_network_script: ivr\nagi_uniqueid: good\n\n" +
                "\n".join(GOOD_REPLIES) + "\n").encode()
        loop.run_until_complete(peer(good, False))
        assert served[-1:] == ["good"]
    finally:
        loop.run_until_complete(server.stop())
        loop.close()


async def _settle(server: FastAgiServer) -> None:
    for _ in range(100):
        if server.open_sessions == 0:
            return
        await asyncio.sleep(0.02)
