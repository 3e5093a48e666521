"""FastAgiServer over loopback TCP with a scripted Asterisk client."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from cti.agi.fastagi import FastAgiServer
from cti.agi.session import AgiSession
from cti.settings import load_settings
from tests.helpers import until
from tests.servers import free_port


class Call:
    """The Asterisk side of one FastAGI connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, script: str, uniqueid: str = "1700000000.1") -> "Call":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        header = (f"agi_network: yes\nagi_network_script: {script}\nagi_channel: Local/5000@cti-inbound-1;2\n"
                  f"agi_uniqueid: {uniqueid}\nagi_extension: 5000\nagi_context: cti-inbound\n\n")
        writer.write(header.encode())
        return cls(reader, writer)

    async def expect(self, command: str, reply: str) -> None:
        line = await asyncio.wait_for(self.reader.readline(), 2)
        assert line.decode() == command + "\n"
        self.writer.write(reply.encode() + b"\n")

    async def closed(self, rest: bytes = b"") -> bool:
        """The server closed the connection after sending only ``rest``."""
        data = await asyncio.wait_for(self.reader.read(), 2)
        return data == rest and self.reader.at_eof()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


Handler = Callable[[AgiSession], object]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    servers: list[FastAgiServer] = []

    async def start(**routes: Handler) -> FastAgiServer:
        server = FastAgiServer(load_settings(agi={"port": free_port()}), routes)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def test_route_gets_env_and_runs_commands(serve: Callable[..., object]) -> None:
    seen: dict[str, str] = {}
    done = asyncio.Event()

    async def ivr(agi: AgiSession) -> None:
        seen.update(agi.env)
        await agi.answer()
        await agi.set_variable("CTI_NEXT", "queue")
        done.set()

    server: FastAgiServer = await serve(ivr=ivr)  # type: ignore[misc]
    call = await Call.open(server.port, "ivr")
    await call.expect("ANSWER", "200 result=0")
    await call.expect("SET VARIABLE CTI_NEXT queue", "200 result=1")
    await asyncio.wait_for(done.wait(), 2)
    assert await call.closed()
    assert seen["extension"] == "5000" and seen["context"] == "cti-inbound" and seen["network_script"] == "ivr"
    assert server.stats() == {"open": 0, "total": 1, "failed": 0, "hung_up": 0, "unknown_route": 0, "timed_out": 0,
                              "refused_busy": 0, "refused_client": 0}
    assert server.commands_total == 2
    await call.close()


async def test_the_last_command_is_sent_and_the_connection_closed(serve: Callable[..., object]) -> None:
    async def ivr(agi: AgiSession) -> None:
        await agi.answer()
        await agi.set_variables({"CTI_QUEUE": "support", "CTI_NEXT": "queue"}, last=True)

    server: FastAgiServer = await serve(ivr=ivr)  # type: ignore[misc]
    call = await Call.open(server.port, "ivr")
    await call.expect("ANSWER", "200 result=0")
    # Asterisk reads the MSet and then the end of the connection: it is not waited for.
    assert await call.closed(b"EXEC MSet CTI_QUEUE=support,CTI_NEXT=queue\n")
    assert server.stats()["total"] == 1 and server.stats()["failed"] == 0 and server.stats()["hung_up"] == 0
    await call.close()


async def _held(serve: Callable[..., object], command: str,
                reply: str) -> tuple[Call, AgiSession, asyncio.Event, FastAgiServer]:
    """A session that ran ``command`` and is then held open (as the IVR holds a caller's at its
    hand-off) until the returned event is set."""
    held: asyncio.Future[AgiSession] = asyncio.get_running_loop().create_future()
    done = asyncio.Event()

    async def ivr(agi: AgiSession) -> None:
        await agi.command(*command.split(" ", 1))
        held.set_result(agi)
        await done.wait()

    server: FastAgiServer = await serve(ivr=ivr)  # type: ignore[misc]
    call = await Call.open(server.port, "ivr")
    await call.expect(command, reply)
    return call, await asyncio.wait_for(held, 2), done, server


async def test_a_command_written_now_from_another_step_ends_the_session(serve: Callable[..., object]) -> None:
    """``exec_last_now``: the ACD's ring through a caller's held session, written from the ACD's own
    step (no await), the connection closed behind it; nothing can follow it."""
    call, agi, done, server = await _held(serve, "ANSWER", "200 result=0")
    results = [agi.exec_last_now("Dial", "PJSIP/1001", "20", "gm"),
               agi.exec_last_now("Dial", "PJSIP/1002", "20", "gm")]  # over: refused
    done.set()
    assert await call.closed(b"EXEC Dial PJSIP/1001,20,gm\n")
    assert results == [True, False]
    await call.close()
    await until(lambda: server.open_sessions == 0)
    assert server.commands_total == 2  # ANSWER and the Dial written from the other step


async def test_a_command_written_now_is_refused_when_the_caller_has_hung_up(serve: Callable[..., object]) -> None:
    call, agi, done, _ = await _held(serve, "ANSWER", "200 result=0")
    call.writer.write(b"HANGUP\n")  # Asterisk tells the session the caller left
    await call.writer.drain()
    await asyncio.sleep(0.2)  # the line has arrived, unread
    assert agi.exec_last_now("Dial", "PJSIP/1001", "20", "gm") is False
    done.set()
    await call.close()


async def test_unknown_route_is_logged_and_hung_up(serve: Callable[..., object],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    server: FastAgiServer = await serve()  # type: ignore[misc]
    with caplog.at_level(logging.ERROR):
        call = await Call.open(server.port, "nowhere")
        await call.expect("HANGUP", "200 result=1")
        assert await call.closed()
    assert "nowhere" in caplog.text and server.unknown_routes == 1
    await call.close()


async def test_handler_error_logged_with_channel_and_uniqueid(serve: Callable[..., object],
                                                             caplog: pytest.LogCaptureFixture) -> None:
    async def buggy(agi: AgiSession) -> None:
        await agi.answer()
        raise RuntimeError("flow bug")

    server: FastAgiServer = await serve(ivr=buggy)  # type: ignore[misc]
    with caplog.at_level(logging.ERROR):
        call = await Call.open(server.port, "ivr", uniqueid="1700000000.77")
        await call.expect("ANSWER", "200 result=0")
        assert await call.closed()
    assert "flow bug" in caplog.text and "1700000000.77" in caplog.text and "Local/5000@cti-inbound-1;2" in caplog.text
    assert server.sessions_failed == 1
    await call.close()


async def test_hangup_mid_session_ends_the_handler_cleanly(serve: Callable[..., object],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    reached_after = False

    async def ivr(agi: AgiSession) -> None:
        nonlocal reached_after
        await agi.stream_file("welcome")
        reached_after = True

    server: FastAgiServer = await serve(ivr=ivr)  # type: ignore[misc]
    with caplog.at_level(logging.ERROR):
        call = await Call.open(server.port, "ivr")
        await call.expect('STREAM FILE welcome ""', "200 result=-1 endpos=0\nHANGUP")
        await call.expect("CHANNEL STATUS", "511 Command Not Permitted on a dead channel or intercept routine")
        assert await call.closed()
    assert not reached_after and server.sessions_hung_up == 1 and server.sessions_failed == 0
    assert caplog.text == ""  # a hangup is not an error
    await call.close()


async def test_open_sessions_are_counted_and_stop_cancels_them(serve: Callable[..., object]) -> None:
    started = asyncio.Semaphore(0)

    async def ivr(agi: AgiSession) -> None:
        started.release()
        await agi.wait_for_digit(60_000)  # the fake never answers

    server: FastAgiServer = await serve(ivr=ivr)  # type: ignore[misc]
    calls = [await Call.open(server.port, "ivr") for _ in range(3)]
    for _ in calls:
        await asyncio.wait_for(started.acquire(), 2)
    assert server.open_sessions == 3
    await server.stop()
    assert server.open_sessions == 0
    for call in calls:
        assert await call.closed(rest=b"WAIT FOR DIGIT 60000\n")
        await call.close()


async def test_peer_closing_before_header_end_does_not_spin(serve: Callable[..., object]) -> None:
    server: FastAgiServer = await serve(ivr=lambda agi: asyncio.sleep(0))  # type: ignore[misc]
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\n")
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.05)
    assert server.open_sessions == 0 and server.sessions_total == 0
