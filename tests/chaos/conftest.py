"""The chaos tier shares the browser tier's real headless Chromium (a console follows a takeover)."""

from tests.browser.conftest import browser, chromium, expected_page_errors, page, viewport  # noqa: F401
from tests.browser.watch import pytest_runtest_call  # noqa: F401 - closes the page's watch when a test's body ends
