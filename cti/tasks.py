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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, Literal

log = logging.getLogger(__name__)


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
