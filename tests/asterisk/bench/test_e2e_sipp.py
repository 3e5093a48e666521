"""bench/e2e_sipp.py in small: real SIP callers (sipp, RFC 2833 keys) and sipp agents through a
private real Asterisk, routed by the engine and then by app_queue. Every call completes on both,
and every call the engine routed left exactly one CRM interaction with outcome "answered"."""

from __future__ import annotations

import re
import subprocess
import sys

from cti.settings import PROJECT_ROOT


def test_small_end_to_end_sip_run_completes_every_call_on_both_routers() -> None:
    run = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "e2e_sipp.py"), "--calls", "6", "--rate", "3",
         "--concurrency", "6", "--agents", "4", "--talk-ms", "1500", "--max-wait-s", "30"],
        capture_output=True, text=True, timeout=240, check=False, cwd=PROJECT_ROOT)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    report = out[out.rindex("\nengine (FastAGI"):]
    for router in ("engine (FastAGI IVR + ACD)", "app_queue (dialplan Read + Queue)"):
        assert re.search(re.escape(router) + r": placed 6, completed 6, failed 0", report), report
    assert "calls whose key was heard: 6" in report, report
    assert "CRM check passed" in report and "(outcomes {'answered': 6})" in report, report
    assert "targets: no call failed by the engine: met; one CRM interaction per sipp call with the right " \
           "outcome: met" in report, report
