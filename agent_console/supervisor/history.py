"""The agent state history as the supervisor reads it (``crm_core.agent_log``), and where an
engine's downtime ends the agents' time in it (docs/kpis.md, "Agent time"): an engine that is down
does not know what the agents do, so each one's state ends where the engine stopped counting. A
clean stop records it (``engine_stopping``); after a crash the next engine does, before its
recovery logs agents in again (``close_downtime``), at the later of the last state the dead engine
recorded and its last heartbeat. Reports and the live clock then read the same rows."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from agent_console.supervisor.agents import AgentClock
from crm_core.agent_log import ENGINE_DOWN, engine_down, state_key, states_between
from crm_core.db import Database
from crm_core.journal import RowJournal

log = logging.getLogger(__name__)
HISTORY_S = 8 * 86400.0  # the live clock's reach back (AgentClock's keep_s)

Row = tuple[str, str, float, bool, str | None]  # agent, state, at, phone reachable, not-ready reason


class AgentHistory:
    def __init__(self, db: Database, rows: RowJournal, *, clock: Callable[[], float] = time.time) -> None:
        self.db, self.rows, self.clock = db, rows, clock
        self.downtime_closed = False  # the previous engine's end is in the history

    async def between(self, since: float, until: float) -> list[Row]:
        """The changes in [since, until), oldest first."""
        async with self.db.session() as s:
            rows = await states_between(session=s, since=since, until=until)
        # An engine's end at the same instant as a state the agent entered comes after it.
        rows.sort(key=lambda r: (r.at, engine_down(r.state, r.reason)))
        return [(r.agent_id, r.state, r.at, r.phone_reachable, r.reason) for r in rows]

    async def close_downtime(self, last_beat: float | None, live: AgentClock) -> int:
        """Before this engine records anything: the agents the history leaves logged in get an
        ``engine_down`` row where the previous engine stopped counting -- the later of the last row
        it recorded and ``last_beat`` (its last heartbeat, read from Asterisk). A clean stop wrote
        its own, and then there is none to add. Once per engine; returns the rows written."""
        if self.downtime_closed:
            return 0
        self.downtime_closed = True
        await self.rows.start()
        try:
            await self.rows.drain()  # the rows a crash left in the journal are the dead engine's too
        except Exception as err:  # the database away: the journal keeps them
            log.warning("supervisor: agent history journal not written before the restart's check: %s",
                        type(err).__name__)
        now = self.clock()
        try:
            history = await self.between(now - HISTORY_S, now)
        except Exception as err:  # not tried again later: this engine's own rows would follow then
            log.warning("supervisor: agent history unreadable at the start (%s): the previous engine's "
                        "downtime is not marked in it", type(err).__name__)
            return 0
        last: dict[str, str] = {}
        for agent_id, state, *_ in history:
            last[agent_id] = state
        open_ = [a for a, state in last.items() if state != "logged_out"]
        if not open_:
            return 0
        end = history[-1][2]  # the last thing the dead engine recorded
        if last_beat is not None and end < last_beat <= now:
            end = last_beat
        log.warning("supervisor: the previous engine stopped without a clean stop; the agent time of %d "
                    "agents ends at %.3f (its last %s)", len(open_), end,
                    "heartbeat" if end == last_beat else "recorded state")
        await self._engine_down(open_, end, live)
        return len(open_)

    async def engine_stopping(self, agents: Sequence[str], live: AgentClock, at: float | None = None) -> int:
        """A clean stop: ``agents`` (those logged in) stop being counted now (``at``)."""
        await self._engine_down(agents, self.clock() if at is None else at, live)
        return len(agents)

    async def _engine_down(self, agents: Sequence[str], at: float, live: AgentClock) -> None:
        for agent_id in agents:
            live.changed(agent_id, "logged_out", at)
        rows = [(state_key(a, "logged_out", at), {"agent_id": a, "state": "logged_out", "reason": ENGINE_DOWN,
                                                   "at": at, "phone_reachable": True}) for a in agents]
        try:
            await self.rows.submit_many("agent_state", rows)
        except Exception:
            log.exception("supervisor: could not journal where %d agents' time ended", len(rows))
