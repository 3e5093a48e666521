"""Classic AGI over pyst2 with scripted stdin/stdout."""

import io
import os
import signal

import pytest

from cti.agi import classic
from cti.agi.classic import ClassicAgiSession, run_classic
from cti.agi.session import AgiSession, Digits
from cti.errors import AgiHangup, UnsafeValue

ENV = "agi_request: /srv/cti/relay.sh\nagi_channel: Local/1@cti-test-classic-1;2\nagi_uniqueid: 17.5\n" \
      "agi_extension: 1\nagi_context: cti-test-classic\n\n"
RECORDED: list[str] = []


def session_with(replies: str) -> tuple[ClassicAgiSession, io.StringIO]:
    out = io.StringIO()
    return ClassicAgiSession.open(io.StringIO(ENV + replies), out), out


async def test_commands_and_replies_through_pyst2() -> None:
    session, out = session_with("200 result=0\n200 result= (timeout)\n200 result=1\n200 result=1 (a b)\n")
    try:
        assert session.env["context"] == "cti-test-classic" and session.env["uniqueid"] == "17.5"
        await session.answer()
        assert await session.get_data("beep", 500, 2) == Digits("", timed_out=True)
        await session.set_variable("CTI_NEXT", "a b")
        assert await session.get_variable("CTI_NEXT") == "a b"
        assert out.getvalue() == 'ANSWER\nGET DATA beep 500 2\nSET VARIABLE CTI_NEXT "a b"\nGET VARIABLE CTI_NEXT\n'
    finally:
        session.close()


async def test_eof_is_a_hangup_and_unsafe_words_are_refused() -> None:
    session, out = session_with("")
    try:
        with pytest.raises(UnsafeValue):
            await session.stream_file("beep\nHANGUP")
        assert out.getvalue() == ""
        with pytest.raises(AgiHangup):
            await session.answer()
    finally:
        session.close()


async def test_sighup_from_asterisk_stops_the_next_command_before_writing() -> None:
    previous = signal.getsignal(signal.SIGHUP)
    session, out = session_with("200 result=0\n")
    try:
        os.kill(os.getpid(), signal.SIGHUP)  # what Asterisk sends a process AGI on hangup
        with pytest.raises(AgiHangup):
            await session.answer()
        assert out.getvalue() == ""
    finally:
        session.close()
    assert signal.getsignal(signal.SIGHUP) == previous  # handed back


async def recording_route(agi: AgiSession) -> None:
    await agi.answer()
    RECORDED.append(agi.env["channel"])


async def failing_route(agi: AgiSession) -> None:
    raise RuntimeError("flow bug")


async def test_run_classic_outcomes() -> None:
    session, _ = session_with("200 result=0\n")
    assert await run_classic(recording_route, session, "rec") == "done"
    session, _ = session_with("")
    assert await run_classic(recording_route, session, "rec") == "hangup"
    session, _ = session_with("")
    assert await run_classic(failing_route, session, "bad") == "failed"


def test_main_runs_the_named_route_for_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = signal.getsignal(signal.SIGHUP)
    out = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO(ENV + "200 result=0\n"))
    monkeypatch.setattr("sys.stdout", out)
    RECORDED.clear()
    assert classic.main(["tests.unit.agi.test_classic:recording_route", "--log-level", "WARNING"]) == 0
    assert RECORDED == ["Local/1@cti-test-classic-1;2"] and out.getvalue() == "ANSWER\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(ENV))
    assert classic.main(["tests.unit.agi.test_classic:failing_route", "--log-level", "CRITICAL"]) == 1
    assert signal.getsignal(signal.SIGHUP) == previous
    with pytest.raises(SystemExit):
        classic.main(["no_colon_here"])
