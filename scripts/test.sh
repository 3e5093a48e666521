#!/usr/bin/env bash
# Runs every test tier. A tier with no passing test fails the run (see tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
export CTI_REQUIRE_TIERS=${CTI_REQUIRE_TIERS:-unit,replay,web,db,redis,asterisk,browser}
echo "lint: ruff"
.venv/bin/ruff check .
echo "tests: tiers ${CTI_REQUIRE_TIERS}"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
