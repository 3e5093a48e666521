"""Every benchmark in bench/ imports: a name it takes from the engine that moved elsewhere breaks it
only when someone runs it, which the suite never does (bench/event_feed.py read FEED_GATHER_S from
callcenter.engine for weeks after it moved to callcenter.adapters)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

BENCHES = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "bench").glob("*.py"))


def test_the_benches_are_found() -> None:
    assert {"e2e_sipp", "event_feed", "routing", "screen_pop"} <= set(BENCHES)


@pytest.mark.parametrize("name", BENCHES)
def test_a_bench_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")
