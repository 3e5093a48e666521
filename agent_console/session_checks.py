"""Session checks in bulk: one database query for many requests and websockets.

A signed token is not enough: every request and websocket frame also asks the ``SessionStore``
(the database, shared by every node) whether the user is still active and the token was issued
after the user's sessions were last ended, and every open websocket asks again every
``recheck_s``. Asked one by one, 1,000 open consoles cost 200 queries a second for the re-checks
alone. Here:

- ``SessionChecks.problem`` gathers the checks asked in the same loop turn into one query. A check
  asked while a query runs waits for the next one, so every answer comes from a query that started
  after the check was asked: a logout on another node is seen exactly as soon as before.
- ``WatchedSockets`` re-checks every open websocket of this process every ``recheck_s`` in one
  query (one task for all of them, not one per socket), and closes those whose session ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from agent_console.errors import NotAuthenticated

log = logging.getLogger(__name__)


class SessionStore(Protocol):
    """Where sessions are ended, shared by every node (the database)."""

    async def session_problems(self, checks: Sequence[tuple[int, float]]) -> list[str | None]:
        """For each ``(user_id, issued_at)``: None while that session is valid, else why not."""

    async def end_sessions(self, user_id: int, at: float) -> None:
        """End every session of ``user_id`` issued before ``at``."""


class SessionChecks:
    """Checks asked together are answered by one ``session_problems`` call."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self._asked: list[tuple[int, float, asyncio.Future[str | None]]] = []
        self._running: asyncio.Task[None] | None = None

    async def problem(self, user_id: int, issued_at: float) -> str | None:
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._asked.append((user_id, issued_at, future))
        if self._running is None:
            self._running = asyncio.ensure_future(self._answer())
        return await future

    async def problems(self, checks: Sequence[tuple[int, float]]) -> list[str | None]:
        """Many checks at once, answered together with whatever else is asked in this turn."""
        return list(await asyncio.gather(*(self.problem(u, iat) for u, iat in checks)))

    async def _answer(self) -> None:
        try:
            while self._asked:
                batch, self._asked = self._asked, []
                try:
                    answers = await self.store.session_problems([(u, iat) for u, iat, _ in batch])
                except Exception as err:  # every check of this batch fails the way one alone would
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(err)
                    continue
                for (*_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self._running = None
            for *_, future in self._asked:  # only when cancelled (shutdown): nobody is left waiting
                future.cancel()
            self._asked.clear()


class WatchedSockets:
    """This process's open websockets, re-checked together every ``recheck_s``.

    ``verify(token)`` returns ``(user_id, issued_at)`` or raises ``NotAuthenticated`` (bad, expired
    or revoked token); ``check(checks)`` answers the database part for many sessions at once."""

    def __init__(self, verify: Callable[[str], tuple[int, float]],
                 check: Callable[[Sequence[tuple[int, float]]], Awaitable[list[str | None]]],
                 recheck_s: Callable[[], float]) -> None:
        self._verify = verify
        self._check = check
        self._recheck_s = recheck_s
        self._tokens: dict[Callable[[str], None], str] = {}
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, close: object) -> bool:
        return close in self._tokens

    def add(self, token: str, close: Callable[[str], None]) -> None:
        """Watch a socket (or, for one watched already, its renewed session's ``token`` from now on)."""
        self._tokens[close] = token
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def discard(self, close: Callable[[str], None]) -> None:
        self._tokens.pop(close, None)
        if not self._tokens and self._task is not None:
            self._task.cancel()
            self._task = None

    async def sweep(self) -> None:
        """Check every socket's session now; close (with the reason) those that ended."""
        waiting: list[tuple[Callable[[str], None], int, float]] = []
        for close, token in list(self._tokens.items()):
            try:
                user_id, issued_at = self._verify(token)
            except NotAuthenticated as err:
                self._tokens.pop(close, None)
                close(err.message)
                continue
            waiting.append((close, user_id, issued_at))
        if not waiting:
            return
        problems = await self._check([(u, iat) for _, u, iat in waiting])
        for (close, _, _), problem in zip(waiting, problems, strict=True):
            if problem is not None and self._tokens.pop(close, None) is not None:
                close(problem)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._recheck_s())
            try:
                await self.sweep()
            except Exception:  # the database hiccupped: keep the sockets, try again next time
                log.warning("session re-check failed", exc_info=True)
