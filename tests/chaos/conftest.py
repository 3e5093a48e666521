"""The chaos tier shares the browser tier's real headless Chromium (a console follows a takeover)."""

from tests.browser.conftest import browser, expected_page_errors, page, viewport  # noqa: F401
