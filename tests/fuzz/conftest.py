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
HANG_S = 25.0  # CPU seconds: a loop that never ends burns CPU
WAIT_S = 120.0  # wall seconds: a test blocked on a peer that never answers burns none


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """Fail a test that spends HANG_S of CPU or WAIT_S of wall-clock time (the signal interrupts even
    a pure-Python loop). CPU time, not wall time, for the first: on a loaded machine (xdist's other
    worker, a benchmark) a test gets a fraction of a core and a wall-clock budget would call that a hang."""
    def _spun(signum: int, frame: object) -> None:
        raise TimeoutError(f"fuzz test still running after {HANG_S} s of CPU: a hang")

    def _waited(signum: int, frame: object) -> None:
        raise TimeoutError(f"fuzz test still running after {WAIT_S} s: a hang")

    previous = signal.signal(signal.SIGPROF, _spun), signal.signal(signal.SIGALRM, _waited)
    signal.setitimer(signal.ITIMER_PROF, HANG_S)
    signal.setitimer(signal.ITIMER_REAL, WAIT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, previous[0])
        signal.signal(signal.SIGALRM, previous[1])
