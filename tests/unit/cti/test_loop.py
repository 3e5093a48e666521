"""The engine's processes run on uvloop (cti.loop); CTI_EVENT_LOOP=asyncio picks asyncio's loop."""

from __future__ import annotations

import asyncio

import pytest

from cti import loop


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_the_engine_loop_is_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CTI_EVENT_LOOP", raising=False)
    assert loop.loop_name() == "uvloop"
    assert loop.run(_loop_module()) == "uvloop"


def test_asyncio_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_EVENT_LOOP", "asyncio")
    assert loop.loop_name() == "asyncio"
    assert loop.run(_loop_module()) == "asyncio"
