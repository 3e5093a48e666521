"""Real headless Chromium for the supervisor pages, on the real Engine and Asterisk (``running``) or on
an unstarted Engine with a seeded CRM (``site``)."""

from __future__ import annotations

import pytest

from tests.asterisk.supervisor.conftest import running  # noqa: F401 - a fixture
from tests.web.supervisor.conftest import site  # noqa: F401 - a fixture


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1440, "height": 900}  # the wallboard is made for a wall screen
