"""Real headless Chromium for the supervisor pages, on the real Engine and Asterisk (``running``) or on
an unstarted Engine with a seeded CRM (``site``)."""

from __future__ import annotations

import pytest

from tests.asterisk.supervisor.conftest import running  # noqa: F401 - a fixture
from tests.web.supervisor.conftest import site  # noqa: F401 - a fixture

# sup1 has a softphone (extension 1009): the supervisor pages ask for its credentials, which the
# unstarted Engine of ``site`` cannot issue (no AMI to write the password to Asterisk: 503, as in a
# PBX outage). Named on each test that logs sup1 in on ``site``; always=False: a short test may end
# before the page has asked.
NO_PBX_FOR_SUP1 = pytest.mark.expected_failed_load(503, "/api/phone/credentials", always=False)


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1440, "height": 900}  # the wallboard is made for a wall screen
