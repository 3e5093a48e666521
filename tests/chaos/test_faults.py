"""The chaos tier: each fault under Local-channel traffic through the real engine, on a real
Asterisk and a real PostgreSQL. Every call placed at Asterisk is one interaction (none lost, none
twice) and nothing is stranded after the recovery. ``CTI_CHAOS_RESULTS`` (bench/chaos.py) collects
the figures as JSON lines."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.chaos import scenarios
from tests.db.crm.pg import ControlledPostgres


@pytest.fixture
def pg() -> Iterator[ControlledPostgres]:
    server = ControlledPostgres()
    try:
        yield server
    finally:
        server.remove()


def _check(result: scenarios.ChaosResult) -> None:
    assert (result.written, result.lost, result.duplicated) == (result.expected, 0, 0), result
    assert result.stranded == 0, result


async def test_pbx_killed_and_restarted_under_traffic(pbx: ManagedPbx, pbx_settings: Settings,
                                                      pg: ControlledPostgres, tmp_path: Path) -> None:
    result = await scenarios.pbx_kill(pbx, pbx_settings, pg, tmp_path)
    scenarios.report(result)
    _check(result)
    assert result.calls_live >= 3 and result.detail == "system_failure=3", result


async def test_postgresql_down_20_s_under_traffic(pbx: ManagedPbx, pbx_settings: Settings,
                                                  pg: ControlledPostgres, tmp_path: Path) -> None:
    result = await scenarios.pg_outage(pbx, pbx_settings, pg, tmp_path,
                                       down_s=float(os.environ.get("CTI_CHAOS_PG_DOWN_S", "20")))
    scenarios.report(result)
    _check(result)
    rows, changes = result.detail.split("=")[1].split("/")
    assert rows == changes and int(changes) > 0, f"agent state history rows lost in the outage: {result.detail}"
