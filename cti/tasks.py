"""Stopping background tasks.

Every service here owns a few background tasks (pumps, retries, timers) and stops them the same
way: cancel, then wait until the task has really finished. Written out by hand, the wait usually
swallows ``CancelledError``, and with it a cancellation aimed at the task that is doing the
stopping (a shutdown that cancels ``stop()`` itself would then carry on). ``cancel_and_wait``
swallows only the stopped task's own cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel ``tasks`` (None is skipped) and wait until each has finished. An exception a task
    raised while stopping propagates (the first one, after every task has finished)."""
    await cancel_all_and_wait(tasks)


async def cancel_all_and_wait(tasks: Iterable[asyncio.Future[Any] | None]) -> None:
    """``cancel_and_wait`` for a collection of tasks."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    failure: BaseException | None = None
    for task in live:
        try:
            await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():  # we are being cancelled too: do not swallow it
                raise
        except Exception as err:
            failure = failure or err
    if failure is not None:
        raise failure
