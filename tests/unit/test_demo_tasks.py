"""The demo's callers are tracked tasks (cti.tasks.TaskSet): a caller that fails is logged with its
name, never lost as "exception was never retrieved", and a cancellation of ``Demo.stop()`` itself
propagates instead of being swallowed while it waits for a caller to end. Before, the callers were
a hand-kept set whose failures nobody retrieved, and ``stop`` suppressed ``CancelledError`` around
each caller's wait."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from callcenter.demo import Demo
from tests.helpers import until


class _Session:
    async def scalars(self, _stmt: Any) -> Any:
        return SimpleNamespace(all=lambda: [])


@contextlib.asynccontextmanager
async def _session() -> AsyncIterator[_Session]:
    yield _Session()


def _engine(originate: Any) -> Any:
    """What Demo touches of an engine with no bots and no queue called "general"."""
    return SimpleNamespace(
        bus=SimpleNamespace(subscribe=lambda *_a, **_k: None),
        db=SimpleNamespace(session=_session),
        acd=SimpleNamespace(queue_names=lambda: [], phones={}, wrapups={}, rings_in_flight=lambda: False),
        ami=SimpleNamespace(control=SimpleNamespace(originate=originate), model=SimpleNamespace(calls=lambda: [])))


async def test_a_caller_that_fails_is_logged_with_its_name(caplog: pytest.LogCaptureFixture) -> None:
    tries = 0

    async def originate(*_a: Any, **_k: Any) -> Any:
        nonlocal tries
        tries += 1
        raise RuntimeError(f"originate refused {tries}")

    demo = Demo(_engine(originate), callers_per_minute=1200, bot_agents=0, seed=3)
    with caplog.at_level(logging.ERROR, logger="callcenter.demo"):
        await demo.start()
        try:
            failed = await until(lambda: [r for r in caplog.records if r.name == "callcenter.demo"
                                          and r.levelno == logging.ERROR],
                                 what="a caller's failure logged", timeout_s=5.0)
        finally:
            await demo.stop()
    assert "demo-caller" in failed[0].getMessage()
    assert failed[0].exc_info is not None and "originate refused" in str(failed[0].exc_info[1])


async def test_stop_cancelled_while_a_caller_ends_propagates() -> None:
    placing, cancelled, release = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def originate(*_a: Any, **_k: Any) -> Any:
        placing.set()
        try:
            await asyncio.Event().wait()  # Asterisk never answers the Originate
        except asyncio.CancelledError:
            cancelled.set()  # runs once stop() waits for this caller
            await release.wait()  # the caller's clean-up takes a while
            raise
        raise AssertionError("not reached")

    demo = Demo(_engine(originate), callers_per_minute=1200, bot_agents=0, seed=3, max_callers=1)
    await demo.start()
    await until(placing.is_set, what="a caller being placed")
    stopping = asyncio.create_task(demo.stop())
    await until(cancelled.is_set, what="stop() cancelling the caller")
    stopping.cancel()  # a shutdown that cancels the stop itself
    await asyncio.wait({stopping})
    assert stopping.cancelled()  # before: the cancel was swallowed and the stop carried on to its end
    release.set()
    await demo.stop()  # the caller ends; a second stop finds nothing left
    assert len(demo._callers) == 0
