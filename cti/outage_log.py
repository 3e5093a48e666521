"""An outage of a server the engine retries (Redis), logged as a state rather than at every failed
attempt: once as it starts, a reminder with the count of failed attempts at most every ``every_s``,
and once as it ends. An outage of 15 s was 24 ERROR lines of the routing node's lease renewals, and
the bus reader wrote a WARNING at each of its retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class OutageLog:
    """The outage of ``server`` as seen by ``who``, logged on ``logger`` (the module that retries)."""

    def __init__(self, who: str, every_s: float, logger: logging.Logger, *, server: str = "Redis",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.who, self.every_s, self.log, self.server, self.clock = who, every_s, logger, server, clock
        self.since: float | None = None
        self.failures = 0
        self._told = 0.0

    def failed(self, err: object) -> None:
        """One failed attempt (``err`` says why: its text is logged, so it must hold no secret)."""
        now = self.clock()
        self.failures += 1
        if self.since is None:
            self.since = self._told = now
            self.log.error("%s: %s unavailable (%s); retrying, logged again every %g s while it lasts",
                           self.who, self.server, err, self.every_s)
        elif now - self._told >= self.every_s:
            self._told = now
            self.log.error("%s: %s still unavailable after %.0f s (%d failed attempts): %s",
                           self.who, self.server, now - self.since, self.failures, err)

    def ended(self) -> None:
        """The server answered: the outage, if there was one, is over."""
        if self.since is not None:
            self.log.warning("%s: %s back after %.1f s (%d failed attempts)", self.who, self.server,
                             self.clock() - self.since, self.failures)
            self.since, self.failures = None, 0
