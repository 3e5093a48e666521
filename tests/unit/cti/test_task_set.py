"""cti.tasks.TaskSet: a service's background tasks, their failures logged once, stopped bounded."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cti.tasks import TaskSet

_OWNER = logging.getLogger("tests.task_set.owner")


async def _forever() -> None:
    await asyncio.Event().wait()


def _failures(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    return [(r.name, r.levelname, r.getMessage()) for r in caplog.records if "failed" in r.getMessage()]


async def test_a_failure_is_logged_once_with_its_name_and_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    tasks = TaskSet(_OWNER, "owner: %s failed")

    async def fails() -> None:
        raise RuntimeError("boom")

    task = tasks.spawn(fails(), "owner.step:1")
    assert len(tasks) == 1 and task.get_name() == "owner.step:1"
    await tasks.wait_idle()
    await tasks.stop(5.0)  # nothing left: nothing raised, nothing logged again
    assert len(tasks) == 0
    assert _failures(caplog) == [("tests.task_set.owner", "ERROR", "owner: owner.step:1 failed")]
    assert caplog.records[-1].exc_info is not None and "boom" in str(caplog.records[-1].exc_info[1])


async def test_a_cancelled_task_is_no_failure(caplog: pytest.LogCaptureFixture) -> None:
    tasks = TaskSet(_OWNER)

    async def cancels_itself() -> None:
        raise asyncio.CancelledError

    outside = tasks.spawn(_forever(), "cancelled from outside")
    own = tasks.spawn(cancels_itself(), "cancelled on its own")
    await asyncio.sleep(0)
    outside.cancel()
    await tasks.wait_idle()
    assert outside.cancelled() and own.cancelled() and len(tasks) == 0
    assert _failures(caplog) == []


async def test_stop_lets_the_tasks_finish_within_the_time_given() -> None:
    tasks = TaskSet(_OWNER)
    go = asyncio.Event()

    async def write() -> str:
        await go.wait()
        return "written"

    task = tasks.spawn(write(), "write")
    stopping = asyncio.create_task(tasks.stop(30.0))
    await asyncio.sleep(0)  # stop() waits now
    assert not stopping.done() and not task.done()
    go.set()
    await stopping
    assert task.result() == "written" and len(tasks) == 0


async def test_stop_cancels_what_still_runs_after_the_time_given(caplog: pytest.LogCaptureFixture) -> None:
    tasks = TaskSet(_OWNER, "owner: %s failed")
    cleaned: list[str] = []

    async def hangs(name: str) -> None:
        try:
            await _forever()
        finally:
            await asyncio.sleep(0)  # a clean-up that itself awaits
            cleaned.append(name)

    async def fails_as_it_stops() -> None:
        try:
            await _forever()
        finally:
            raise RuntimeError("clean-up failed")

    a, b = tasks.spawn(hangs("a"), "a"), tasks.spawn(fails_as_it_stops(), "b")
    await tasks.stop(0.01)  # nothing raised: b's failure is logged
    assert a.cancelled() and sorted(cleaned) == ["a"] and b.done() and len(tasks) == 0
    assert _failures(caplog) == [("tests.task_set.owner", "ERROR", "owner: b failed")]  # once, by its owner


async def test_stop_without_time_cancels_at_once() -> None:
    tasks = TaskSet(_OWNER)
    task = tasks.spawn(_forever(), "forever")
    await tasks.stop()
    assert task.cancelled() and len(tasks) == 0


async def test_tasks_spawned_while_stopping_are_waited_for_then_cancelled() -> None:
    tasks = TaskSet(_OWNER)
    go, go_on, next_spawned = asyncio.Event(), asyncio.Event(), asyncio.Event()
    spawned: dict[str, asyncio.Task[None]] = {}

    async def next_step() -> None:
        await go_on.wait()

    async def first() -> None:
        await go.wait()
        spawned["next"] = tasks.spawn(next_step(), "next")
        next_spawned.set()

    async def hangs() -> None:
        try:
            await _forever()
        finally:
            spawned["late"] = tasks.spawn(_forever(), "late")  # spawned as it is cancelled

    tasks.spawn(first(), "first")
    stopping = asyncio.create_task(tasks.stop(30.0))
    await asyncio.sleep(0)
    go.set()  # first ends, spawning next: stop() waits for it too
    await next_spawned.wait()
    for _ in range(3):  # stop() sees first end, and waits for next
        await asyncio.sleep(0)
    assert not stopping.done()
    go_on.set()
    await stopping
    assert spawned["next"].done() and not spawned["next"].cancelled()

    tasks.spawn(hangs(), "hangs")
    await asyncio.sleep(0)  # it runs (a task cancelled before its first step never reaches its finally)
    await tasks.stop(0.0)
    assert spawned["late"].cancelled() and len(tasks) == 0


async def test_a_cancellation_of_the_caller_propagates() -> None:
    tasks = TaskSet(_OWNER)
    task = tasks.spawn(_forever(), "forever")
    stopping = asyncio.create_task(tasks.stop(30.0))
    await asyncio.sleep(0)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert not task.done()  # the caller gave up waiting; the task is still the set's
    await tasks.stop()
    assert task.cancelled()


async def test_wait_idle_waits_for_tasks_spawned_meanwhile() -> None:
    tasks = TaskSet(_OWNER)
    order: list[str] = []

    async def second() -> None:
        await asyncio.sleep(0)
        order.append("second")

    async def first() -> None:
        tasks.spawn(second(), "second")
        order.append("first")

    tasks.spawn(first(), "first")
    await tasks.wait_idle()
    assert order == ["first", "second"] and len(tasks) == 0
