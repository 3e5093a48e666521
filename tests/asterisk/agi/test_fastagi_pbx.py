"""FastAGI against a real Asterisk 22: Local-channel calls into cti-inbound reach our server."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from cti.agi.fastagi import FastAgiServer
from cti.agi.session import AgiSession, Digits
from cti.errors import AgiHangup
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.asterisk.agi.helpers import cli, wait_until


@pytest.fixture
async def hangup_all(pbx: ManagedPbx) -> AsyncIterator[None]:
    yield
    await cli(pbx, "channel request hangup all")
    await wait_until(lambda: "0 active channels" in pbx.cli("core show channels"))


async def test_inbound_call_drives_our_fastagi_session(pbx: ManagedPbx, pbx_settings: Settings,
                                                       hangup_all: None) -> None:
    seen: dict[str, str] = {}
    results: dict[str, object] = {}
    done = asyncio.Event()

    async def ivr(agi: AgiSession) -> None:
        seen.update(agi.env)
        await agi.answer()
        started = time.monotonic()
        results["digit"] = await agi.stream_file("beep")
        results["beep_s"] = time.monotonic() - started
        results["data"] = await agi.get_data("beep", 300, 2)
        await agi.set_variable("CTI_NEXT", "queue")
        results["next"] = await agi.get_variable("CTI_NEXT")
        results["dnis"] = await agi.get_variable("CTI_DNIS")
        results["missing"] = await agi.get_variable("CTI_NEVER_SET")
        done.set()

    server = FastAgiServer(pbx_settings, {"ivr": ivr})
    await server.start()
    try:
        await cli(pbx, "channel originate Local/5000@cti-inbound application Wait 20")
        await asyncio.wait_for(done.wait(), 15)
        assert seen["extension"] == "5000" and seen["context"] == "cti-inbound"
        assert seen["network_script"] == "ivr" and seen["channel"].startswith("Local/5000@cti-inbound-")
        assert seen["uniqueid"]
        assert results["digit"] == "" and 0.1 < results["beep_s"] < 5  # type: ignore[operator]
        assert results == results | {"next": "queue", "dnis": "5000", "missing": None,
                                     "data": Digits("", timed_out=True)}
        # The dialplan read our CTI_NEXT after the AGI returned: the caller is on hold music.
        await wait_until(lambda: "MusicOnHold" in pbx.cli("core show channels"))
        assert server.sessions_failed == 0 and server.sessions_hung_up == 0
    finally:
        await server.stop()


async def test_hangup_mid_session_raises_agihangup_cleanly(pbx: ManagedPbx, pbx_settings: Settings,
                                                           hangup_all: None) -> None:
    waiting = asyncio.Event()
    outcome: list[BaseException | str] = []

    async def ivr(agi: AgiSession) -> None:
        await agi.answer()
        waiting.set()
        try:
            await agi.wait_for_digit(20_000)
            outcome.append("returned")
        except AgiHangup as err:
            outcome.append(err)
            raise

    server = FastAgiServer(pbx_settings, {"ivr": ivr})
    await server.start()
    try:
        await cli(pbx, "channel originate Local/5001@cti-inbound application Wait 20")
        await asyncio.wait_for(waiting.wait(), 15)
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await cli(pbx, "channel request hangup all")
        await wait_until(lambda: server.open_sessions == 0, within=5)
        assert time.monotonic() - started < 3
        assert len(outcome) == 1 and isinstance(outcome[0], AgiHangup)
        assert server.sessions_hung_up == 1 and server.sessions_failed == 0
    finally:
        await server.stop()
