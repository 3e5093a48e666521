"""Preview callbacks as supervisors see them: the open counts on the wallboard (re-read every
``every_s``, not on every 1 s snapshot).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from crm_core import callbacks
from crm_core.db import Database

log = logging.getLogger(__name__)


class SupervisorCallbacks:
    def __init__(self, db: Database, *, every_s: float = 10.0,
                 overdue_after: timedelta = callbacks.OVERDUE_AFTER,
                 clock: Callable[[], float] = time.time) -> None:
        self.db, self.every_s, self.overdue_after, self.clock = db, every_s, overdue_after, clock
        self.counts: dict[str, dict[str, int]] = {}
        self._counts_at = float("-inf")

    async def refresh_counts(self, now: float) -> dict[str, dict[str, int]]:
        """The open counts per queue, re-read when ``every_s`` passed since the last read."""
        if now - self._counts_at >= self.every_s:
            try:
                async with self.db.session() as s:
                    self.counts = await callbacks.open_counts(session=s, now=datetime.fromtimestamp(now, UTC),
                                                              overdue_after=self.overdue_after)
                self._counts_at = now
            except Exception:  # the database may be away: the board keeps the last counts
                log.exception("wallboard: could not count open callbacks")
        return self.counts

    def invalidate(self) -> None:
        """Count again at the next snapshot (after a callback changed here)."""
        self._counts_at = float("-inf")
