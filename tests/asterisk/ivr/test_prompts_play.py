"""Prompts made by ``ivr.prompts`` (espeak-ng + sox) play in the real Asterisk.

They are written into this test instance's own directory and played by absolute path, so the shared
Asterisk root file system is left untouched.
"""

from __future__ import annotations

import asyncio
import time

from cti.agi.fastagi import FastAgiServer
from cti.agi.session import AgiSession
from cti.ami.bridge import AmiBridge
from cti.bus import InProcessBus
from cti.pbx import ManagedPbx
from ivr.prompts import PromptText, make_prompts
from ivr.sounds import SoundIndex

CONTEXT = "cti-test-ivr-prompts"


async def test_generated_prompts_play(pbx: ManagedPbx) -> None:
    written = make_prompts([PromptText("hold", "en", "Please hold, we are connecting you to an agent."),
                            PromptText("hold", "zh", "请稍候，正在为您转接客服。")],
                           SoundIndex(pbx.instance_dir / "sounds"))
    played: dict[str, float] = {}
    done = asyncio.Event()

    async def route(session: AgiSession) -> None:
        try:
            for lang in ("en", "zh"):
                t = time.monotonic()
                assert await session.stream_file(f"{pbx.instance_path}/sounds/{lang}/cti/hold") == ""
                played[lang] = time.monotonic() - t
        finally:
            done.set()

    server = FastAgiServer(pbx.settings, routes={"prompt": route})
    await server.start()
    bridge = AmiBridge(pbx.settings, InProcessBus())
    await bridge.start()
    await bridge.wait_connected(10)
    await asyncio.to_thread(pbx.cli, f"dialplan add extension 1,1,Answer into {CONTEXT} replace")
    await asyncio.to_thread(pbx.cli, f"dialplan add extension 1,2,AGI,${{CTI_AGI}}/prompt into {CONTEXT} replace")
    try:
        res = await bridge.control.originate(f"Local/1@{CONTEXT}", context="cti-sim-caller", exten="s",
                                             timeout_ms=10000)
        assert res.success, res
        await asyncio.wait_for(done.wait(), 30)
        assert set(played) == {"en", "zh"}, played
        assert all(path.stat().st_size > 8000 for path in written)
        # A file Asterisk cannot open fails STREAM FILE at once; these took as long as speech does.
        assert played["en"] > 1.5 and played["zh"] > 1.0, played
    finally:
        pbx.cli("channel request hangup all")
        await bridge.stop()
        await server.stop()
