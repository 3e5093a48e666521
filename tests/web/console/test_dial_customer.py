"""A click-to-dial naming a customer the CRM does not have is refused before anything rings (the
agent's phone rang, and the call was logged without the customer the request named)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_console.errors import InvalidInput
from tests.web.engines import seeded_engine


async def test_a_dial_for_a_customer_the_crm_lacks_names_customer_id(tmp_path: Path) -> None:
    async with seeded_engine(tmp_path) as engine:
        with pytest.raises(InvalidInput) as refused:
            await engine.desk.dial("1001", "13800138000", 987654)
        assert refused.value.field == "customer_id" and "987654" in str(refused.value)
        assert not engine.acd.agent_calls("1001")  # nothing rang
