"""The clean-up check on the session's Asterisk (tests/conftest.py ``_session_pbx_left_clean``), in a
pytest run of its own: a test that leaves a call up fails at its teardown, naming the channels,
which are hung up; a channel that `channel request hangup all` does not remove gets the Asterisk
restarted; the next test finds it running and empty either way."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from cti.settings import PROJECT_ROOT

CASES = "tests/asterisk/pbx_left_clean_cases.py"


def test_a_test_that_leaves_channels_fails_and_the_next_starts_on_an_empty_asterisk() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CTI_"))}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.asterisk.pbx_left_clean_plugin",
         "-v", CASES],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)  # a hang guard only
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert re.search(r"\b3 passed, 2 errors\b", out), out
    left = _section(out, "ERROR at teardown of test_leaves_a_call_up", "(hung up now):", "\n_")
    assert re.search(r"^Local/1001@cti-sim-phone-\w+;1!cti-sim-caller!s!", left, re.M), out
    stuck = _section(out, "ERROR at teardown of test_leaves_a_call_hangup_all_cannot_remove",
                     "that `channel request hangup all` did not remove:", "the session's Asterisk was restarted")
    assert re.search(r"^Local/1002@cti-sim-phone-\w+;1!", stuck, re.M), out
    assert re.search(r"test_the_next_test_finds_the_asterisk_empty PASSED", out), out


def _section(out: str, heading: str, start: str, end: str) -> str:
    """The text between ``start`` and ``end`` after ``heading`` (an error's report) in pytest's output."""
    report = out[out.index(heading):]
    after = report[report.index(start) + len(start):]
    return after[:after.index(end)]
