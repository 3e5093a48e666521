#!/usr/bin/env bash
# Installs the Debian packages the engine and its test tiers need, only those missing.
# Idempotent; safe to run on every `make run` / `make test`.
set -euo pipefail
PKGS=(debootstrap redis-server postgresql chromium fonts-wqy-microhei sip-tester espeak-ng sox procps iproute2 prometheus openssl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm install the console's browser libraries (package.json: SIP.js). Machines that already
# have them (e.g. nodesource's nodejs, which conflicts with Debian's npm package) keep theirs.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: missing Debian packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# The postgresql package starts a cluster service on Debian (on localhost); the project runs its own
# clusters from its scripts, so the packaged one is left alone. The prometheus package's service is
# stopped and disabled when this script installed it: it answers on port 9090 of every interface, and
# nothing of the project uses it (the asterisk tier starts its own server on a free port,
# tests/asterisk/engine/test_prometheus.py); a machine that had it keeps it as it was.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
