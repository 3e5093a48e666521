"""The tier guard of tests/conftest.py under pytest-xdist, as `make test` runs it: the passing tests
of every worker are counted together, a required tier that ran none fails the run, and a test
skipped inside a worker fails the run too."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from cti.settings import PROJECT_ROOT

UNIT = "tests/unit/test_settings.py"
REPLAY = "tests/replay/cti/test_far_end_traces.py"


def test_two_workers_are_counted_together_and_a_missing_tier_or_a_skip_fails_the_run() -> None:
    skipped = f"{UNIT}::test_bad_yaml_names_file"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CTI_"))}
    env |= {"CTI_REQUIRE_TIERS": "unit,replay,web", "CTI_TEST_SKIP_ONE": skipped}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.unit.tier_guard_plugin",
         "-n", "2", "--dist", "loadscope", "-v", UNIT, REPLAY],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)  # a hang guard only
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    # Each module ran on its own worker: both tiers counted by the controller, web (not run) missing.
    counts = re.search(r"tiers passed: unit=(\d+), replay=(\d+), fuzz=0, web=0", out)
    assert counts and int(counts[1]) > 0 and int(counts[2]) > 0, out
    assert "ERROR: tiers that ran no passing test: web\n" in out, out
    assert f"ERROR {skipped}" in out and "skipped tests are not allowed" in out, out  # skipped in its setup
    assert re.search(r"\b\d+ passed, 1 error\b", out), out
    workers = {m[1] for m in re.finditer(r"\[(gw\d)\] \[ *\d+%\] PASSED", out)}
    assert workers == {"gw0", "gw1"}, out
