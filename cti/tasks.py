"""Stopping background tasks.

Every service here owns a few background tasks (pumps, retries, timers) and stops them the same
way: cancel, then wait until the task has really finished. Written out by hand, the wait usually
swallows ``CancelledError``, and with it a cancellation aimed at the task that is doing the
stopping (a shutdown that cancels ``stop()`` itself would then carry on). ``cancel_and_wait``
swallows only the stopped task's own cancellation.

A cancellation can also be lost on the way in: on Python 3.11, ``asyncio.wait_for`` returns its
result instead of raising ``CancelledError`` when the awaited operation finishes in the same loop
turn as the cancel (fixed in 3.12). redis-py sends every command through ``wait_for``, so a Redis
reader cancelled while it sends goes on reading, and a plain ``await task`` waits for ever. So a
task still running ``again_after_s`` after its cancel is cancelled again, until it stops.

``TaskSet`` holds the short-lived tasks a service spawns as it goes (a Setvar nobody waits for, a
ring, a late pop): each is kept until it ends (the loop itself keeps only a weak reference), its
failure logged once with its name through the owner's logger, and the owner's ``stop`` lets them
finish for a bounded time, then cancels the rest::

    self._tasks = TaskSet(log, "acd: %s failed")
    self._tasks.spawn(self.remember_entry(call), f"acd.remember:{call.linkedid}")
    await self._tasks.stop(STOP_WRITES_S)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, Literal, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None, again_after_s: float = 1.0) -> None:
    """Cancel ``tasks`` (None is skipped) and wait until each has finished, cancelling again one
    that is still running ``again_after_s`` later. An exception a task raised while stopping
    propagates (the first one, after every task has finished)."""
    await cancel_all_and_wait(tasks, again_after_s=again_after_s)


async def cancel_all_and_wait(tasks: Iterable[asyncio.Future[Any] | None], *, again_after_s: float = 1.0,
                              failures: Literal["raise", "log"] = "raise") -> None:
    """``cancel_and_wait`` for a collection of tasks. ``failures="log"``: a task that failed while
    stopping is logged and the others' stop goes on (many sessions or calls at once, where one
    failure must not hide the others, nor stop the caller's own clean-up)."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    failure: BaseException | None = None
    for task in live:
        # asyncio.wait, not ``await task``: a cancellation of the caller is then never mistaken
        # for the task's own, and propagates.
        tries = 1
        while not (await asyncio.wait({task}, timeout=again_after_s))[0]:
            # Once is Python 3.11's lost cancel (expected); again and again, a clean-up that hangs.
            log.log(logging.INFO if tries == 1 else logging.WARNING,
                    "task %s still runs %.1f s after it was cancelled (%d times): cancelling it again", _name(task),
                    again_after_s * tries, tries)
            task.cancel()
            tries += 1
        error = None if task.cancelled() else task.exception()
        if error is not None and failures == "log":
            log.warning("task %s failed while stopping: %r", _name(task), error, exc_info=error)
        elif error is not None:
            failure = failure or error
    if failure is not None:
        raise failure


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)


class TaskSet:
    """Background tasks of one owner, tracked from ``spawn`` until they end. ``failed`` is the
    message (``%s``: the task's name) logged at ERROR, with the traceback, for a task that raised;
    a cancelled one is not a failure."""

    def __init__(self, logger: logging.Logger, failed: str = "%s failed") -> None:
        self._log, self._failed = logger, failed
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def __len__(self) -> int:
        """Tasks not ended yet."""
        return len(self._tasks)

    async def wait_idle(self) -> None:
        """Until no task is left, those spawned meanwhile included (a failure is logged, not raised)."""
        while self._tasks:
            # A task that has ended and whose _done has not run yet is waited for too: its _done
            # was added first, so it has run when the wait returns.
            await asyncio.wait(list(self._tasks))

    async def stop(self, timeout_s: float | None = 0.0) -> None:
        """Let the tasks finish for ``timeout_s`` (None: for as long as they take), then cancel
        those still running and wait until they have ended. Tasks spawned meanwhile are waited for
        and cancelled alike; a cancellation of the caller propagates (``cancel_all_and_wait``)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while self._tasks and (deadline is None or (left := deadline - loop.time()) > 0):
            await asyncio.wait(list(self._tasks), timeout=None if deadline is None else left)
        while self._tasks:
            with contextlib.suppress(Exception):  # a task's failure is logged once, by _done
                await cancel_all_and_wait(list(self._tasks))

    def _done(self, task: asyncio.Task[Any]) -> None:
        """A task's fault is logged here, never lost as "exception was never retrieved"."""
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            self._log.error(self._failed, task.get_name(), exc_info=err)
