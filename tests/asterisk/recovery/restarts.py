"""Engines one after another on the session's real Asterisk and one database, as the restart tests
run them (the ``restarts`` fixture of this directory's conftest)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.asterisk.recovery import crashing_engine
from tests.helpers import engine_settings, seed


class Restarts:
    """Engines made in turn on the same settings (the next one after a crash or a stop of the last),
    each with ``answer_after_s=0.5`` and a recorder of every bus event into ``seen``."""

    def __init__(self, pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
        self.pbx = pbx
        self._pbx_settings, self._tmp_path = pbx_settings, tmp_path
        self.settings = engine_settings(pbx_settings, tmp_path)  # a private database, not seeded yet
        self.seen: list[Event] = []
        self.engines: list[Engine] = []
        self._closed = False

    async def seed(self, *, away: bool = False) -> Settings:
        """The demo company in the engines' database (a crashing engine seeds its own); ``away``: and
        the dialplan's fallback after 3 s without an engine (``crashing_engine.away_settings``)."""
        if away:
            self.settings = await crashing_engine.away_settings(self._pbx_settings, self._tmp_path)
        else:
            await seed(self.settings)
        return self.settings

    def engine(self, *, web: bool = False) -> Engine:
        """The next engine, its events recorded from before its start; not started (a test may change
        its queues or phones first)."""
        eng = Engine(self.settings, answer_after_s=0.5, web=web)
        n = len(self.engines) + 1
        eng.bus.subscribe(Event, self._record, name="test.recorder" + (str(n) if n > 1 else ""))
        self.engines.append(eng)
        return eng

    async def start(self, *, web: bool = False) -> Engine:
        """The next engine, started."""
        eng = self.engine(web=web)
        await eng.start()
        return eng

    async def _record(self, ev: Event) -> None:
        self.seen.append(ev)

    async def close(self) -> None:
        """Every channel hung up, then the last engine stopped (an earlier one was stopped by the test,
        or killed); once."""
        if self._closed or not self.engines:
            return
        self._closed = True
        self.pbx.cli("channel request hangup all")
        await asyncio.sleep(0.5)
        await self.engines[-1].stop()
