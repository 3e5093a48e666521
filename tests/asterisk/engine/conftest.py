"""The whole engine on the session's real Asterisk, with every bus event recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from callcenter.engine import Engine
from cti.events import Event
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import recorded_engine


@pytest.fixture
async def engine(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Any) -> AsyncIterator[tuple[Engine, list[Event]]]:
    async with recorded_engine(pbx, pbx_settings, tmp_path, answer_after_s=0.5) as recorded:
        yield recorded
