"""The restart tests' engines (``restarts.Restarts``): one after another on the session's real
Asterisk and one database, every event each publishes recorded in order; at the end every channel
hung up and the last engine stopped (``Restarts.close``, the fixture's teardown if the test did not)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.asterisk.recovery.restarts import Restarts


@pytest.fixture
async def restarts(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> AsyncIterator[Restarts]:
    engines = Restarts(pbx, pbx_settings, tmp_path)
    try:
        yield engines
    finally:
        await engines.close()
