#!/bin/sh
# Speak the IVR's own prompts (config/ivr/prompts.tsv) with espeak-ng, convert them to 8 kHz mono
# wav with sox and install them as <sounds>/<language>/cti/<name>.wav in the managed Asterisk's
# sounds (or --sounds DIR). Flows prefer these over the stock sounds when they exist.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
exec "$here/.venv/bin/cti" ivr prompts "$@"
