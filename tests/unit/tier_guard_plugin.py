"""A pytest plugin for tests/unit/test_tier_guard.py: skips the one test named by CTI_TEST_SKIP_ONE,
to show that a skip in an xdist worker still fails the run."""

from __future__ import annotations

import os

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.nodeid == os.environ.get("CTI_TEST_SKIP_ONE"):
        pytest.skip("skipped on purpose by the tier guard's test")
