"""The fuzz tier: hypothesis feeds random and mutated input to the AMI and AGI parsers.

Every test runs under a wall-clock guard: a hang is a failure with a traceback, never a stuck run.
The examples per test are kept small enough for the whole tier to stay under ~30 s on one core.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# No example database: CI starts clean, and a found failure is printed with its reproducer.
settings.register_profile("fuzz", max_examples=150, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ = settings.get_profile("fuzz")
HANG_S = 25.0


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """Fail a test that runs longer than HANG_S (SIGALRM interrupts even a pure-Python loop)."""
    def _expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"fuzz test still running after {HANG_S} s: a hang")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
