"""cti.tasks.cancel_and_wait: stops tasks and swallows only their own cancellation."""

from __future__ import annotations

import asyncio

import pytest

from cti.tasks import cancel_all_and_wait, cancel_and_wait


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_cancels_and_waits_until_the_tasks_have_finished() -> None:
    cleaned: list[str] = []

    async def worker(name: str) -> None:
        try:
            await _forever()
        finally:
            await asyncio.sleep(0)  # a clean-up that itself awaits
            cleaned.append(name)

    a, b = asyncio.ensure_future(worker("a")), asyncio.ensure_future(worker("b"))
    await asyncio.sleep(0)
    await cancel_and_wait(a, None, b)
    assert a.cancelled() and b.cancelled() and sorted(cleaned) == ["a", "b"]
    await cancel_and_wait(a)  # already finished: nothing happens
    await cancel_all_and_wait([])


async def test_a_cancellation_of_the_caller_is_not_swallowed() -> None:
    stopping = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await _forever()
        finally:
            stopping.set()
            await asyncio.sleep(10)  # its clean-up takes long: the caller gets cancelled meanwhile

    task = asyncio.ensure_future(slow_to_stop())
    await asyncio.sleep(0)
    caller = asyncio.ensure_future(cancel_and_wait(task))
    await stopping.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert caller.cancelled()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_task_that_fails_while_stopping_reports_it_after_the_others_stopped() -> None:
    async def fails() -> None:
        try:
            await _forever()
        finally:
            raise RuntimeError("clean-up failed")

    bad, good = asyncio.ensure_future(fails()), asyncio.ensure_future(_forever())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="clean-up failed"):
        await cancel_and_wait(bad, good)
    assert good.cancelled()


async def test_a_cancellation_lost_on_the_way_in_is_sent_again() -> None:
    """Python 3.11's asyncio.wait_for returns the result, and drops a cancel, when the awaited
    future completes in the same loop turn: how a Redis reader stopped mid-command kept running."""
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future[None]] = []
    rounds = 0

    async def reader() -> None:  # like the Redis bus's reader: one command after another
        nonlocal rounds
        while True:
            pending.append(loop.create_future())
            await asyncio.wait_for(pending[-1], 5)
            rounds += 1

    task = asyncio.ensure_future(reader())
    await asyncio.sleep(0)
    pending[-1].set_result(None)  # the reply arrives in the very turn the task is cancelled
    async with asyncio.timeout(5):
        await cancel_and_wait(task)
    assert task.cancelled()


async def test_a_task_that_ignores_its_first_cancel_is_cancelled_again() -> None:
    ignored = 0

    async def stubborn() -> None:
        nonlocal ignored
        while True:
            try:
                await _forever()
            except asyncio.CancelledError:
                if ignored:
                    raise
                ignored += 1

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait(task)
    assert task.cancelled() and ignored == 1


async def test_failures_can_be_logged_so_every_other_task_still_stops(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        try:
            await _forever()
        finally:
            raise RuntimeError("clean-up failed")

    tasks = [asyncio.ensure_future(fails()), asyncio.ensure_future(_forever()), asyncio.ensure_future(fails())]
    await asyncio.sleep(0)
    await cancel_all_and_wait(tasks, failures="log")  # nothing raised here
    assert tasks[1].cancelled() and all(t.done() for t in tasks)
    assert [r.levelname for r in caplog.records if "failed while stopping" in r.message] == ["WARNING", "WARNING"]
