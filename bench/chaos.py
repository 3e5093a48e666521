"""Resilience under faults: the chaos tier's scenarios (tests/chaos/scenarios.py) run through the
real engine on a real Asterisk and a real PostgreSQL, with Local-channel traffic:

- ``pbx kill -9 + restart``: two calls talking and one waiting when Asterisk is killed with SIGKILL;
  it is restarted 2 s later; two more calls after the recovery.
- ``postgresql down N s``: PostgreSQL stopped (immediate shutdown) while calls arrive, are answered
  and end; started again after N s.
- ``engine node kill -9 (standby takes over)``: two engine nodes on one Redis; the active one (a
  process with one call talking, three waiting and one in the IVR) is killed with SIGKILL; the
  standby's recovery time is from the kill to routing (lease taken, picture rebuilt).

Prints one row per fault: recovery time (fault repaired -> the engine back: AMI reconnected and
resynced / every interaction written), calls live at the fault, interactions expected / written /
lost / duplicated, channels stranded; then ``target ...: MET/MISSED`` verdict lines.

    .venv/bin/python bench/chaos.py [--quick]

``--quick`` keeps PostgreSQL down 10 s instead of 20 s. The scenarios run under pytest (they use the
test tier's Asterisk, PostgreSQL and Redis fixtures), one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="PostgreSQL down 10 s instead of 20 s")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cti-chaos-") as tmp:
        out = Path(tmp) / "results.jsonl"
        env = {**os.environ, "CTI_CHAOS_RESULTS": str(out), "CTI_CHAOS_PG_DOWN_S": "10" if args.quick else "20"}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/chaos"],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")
    header = ("fault", "recovery s", "calls live", "expected", "written", "lost", "duplicated", "stranded", "detail")
    table = [(r["fault"], f"{r['recovery_s']:.2f}", r["calls_live"], r["expected"], r["written"], r["lost"],
              r["duplicated"], r["stranded"], r["detail"]) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table, strict=True)]
    for line in (header, *table):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)))
    lost = sum(r["lost"] for r in rows)
    dup = sum(r["duplicated"] for r in rows)
    stranded = sum(r["stranded"] for r in rows)
    pbx = [r["recovery_s"] for r in rows if r["fault"].startswith("pbx")]
    standby = [r["recovery_s"] for r in rows if r["fault"].startswith("engine node")]
    ran = len(rows) == 3
    verdict = lambda ok: "MET" if ok and ran else "MISSED"  # noqa: E731
    print(f"target 0 lost: {verdict(lost == 0)}")
    print(f"target 0 duplicated: {verdict(dup == 0)}")
    print(f"target 0 stranded after recovery: {verdict(stranded == 0)}")
    print(f"target engine back <= 5 s after Asterisk restarts (its own boot included): "
          f"{verdict(bool(pbx) and max(pbx) <= 5.0)}")
    print(f"target standby node routes <= 3 s after the active node's kill -9: "
          f"{verdict(bool(standby) and max(standby) <= 3.0)}")
    if not ran:
        print(f"only {len(rows)} of 3 scenarios reported (pytest exit {proc.returncode})")
    return 0 if ran and proc.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
