"""``cti run`` without a terminal (a service manager's journal, ``cti run > log``): its stdout is a
file, which Python buffers in blocks, so a line printed without ``flush=True`` reached the file a
few kB later, or at the exit. ``cti run`` makes stdout line-buffered first; every status line of its
own is flushed as well (tests/redis/cti/test_standby_start.py reads them from a file while it runs)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cti.settings import PROJECT_ROOT

# A plain print (no flush), then the process runs on: is the line in the file meanwhile?
_SCRIPT = ("import sys, time\n{setup}print('status: a line', file=sys.stdout)\ntime.sleep(120)\n")


def _seen_while_running(tmp_path: Path, setup: str, within_s: float) -> bool:
    out = tmp_path / "stdout.log"
    with out.open("wb") as fh:
        # As a service manager starts it: no PYTHONUNBUFFERED (a developer's shell, or CI, may set it).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        proc = subprocess.Popen([sys.executable, "-c", _SCRIPT.format(setup=setup)], stdout=fh,
                                stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env)
    try:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if "status: a line" in out.read_text():
                return True
            assert proc.poll() is None, out.read_text()
            time.sleep(0.1)
        return False
    finally:
        proc.kill()
        proc.wait()


def test_a_line_printed_by_cti_run_reaches_a_file_while_it_runs(tmp_path: Path) -> None:
    setup = "from callcenter.cli import _line_buffered_stdout\n_line_buffered_stdout()\n"
    # Importing the CLI (FastAPI, SQLAlchemy, ...) takes seconds on a loaded machine: the line comes after it.
    assert _seen_while_running(tmp_path, setup, within_s=90)


def test_without_it_python_holds_the_line_back(tmp_path: Path) -> None:
    """What the above guards against: Python's own buffering of a file."""
    assert not _seen_while_running(tmp_path, "", within_s=3)  # the print comes at once: no import before it
