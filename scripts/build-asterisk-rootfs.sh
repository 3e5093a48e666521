#!/usr/bin/env bash
# Builds (once) a Debian sid root file system holding Asterisk 22, for `cti pbx up`.
# Debian 12 has no asterisk package; sid does. Installing sid packages on the host would
# upgrade libc, so Asterisk lives in a chroot that shares the host's network namespace.
# Usage: build-asterisk-rootfs.sh DIR
set -euo pipefail
DIR=${1:?usage: build-asterisk-rootfs.sh DIR}
MIRROR=${CTI_DEBIAN_MIRROR:-}
if [ -z "$MIRROR" ]; then
  # Use the mirror the host's own apt sources use.
  MIRROR=$(grep -hoE '^URIs: *http[^ ]*/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | sed 's/^URIs: *//')
  [ -n "$MIRROR" ] || MIRROR=$(grep -hoE '^deb +http[^ ]*/debian/? ' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')
  [ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
fi
if [ -x "$DIR/usr/sbin/asterisk" ] && [ -f "$DIR/.cti-rootfs-ok" ]; then
  echo "asterisk rootfs: cached at $DIR"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "error: debootstrap is not installed (scripts/install-system-deps.sh)" >&2; exit 1; }
TMP="$DIR.partial"
rm -rf "$TMP"
mkdir -p "$(dirname "$DIR")"
echo "asterisk rootfs: [1/3] debootstrap sid from $MIRROR (about 30 s)"
debootstrap --variant=minbase sid "$TMP" "$MIRROR" > "$TMP.log" 2>&1 || { tail -20 "$TMP.log" >&2; exit 1; }
echo "asterisk rootfs: [2/3] installing asterisk in the chroot (about 30 s)"
cp /etc/resolv.conf "$TMP/etc/resolv.conf" 2>/dev/null || true
# The sid Release file can look expired to apt relative to the machine's clock.
chroot "$TMP" apt-get -o Acquire::Check-Valid-Until=false update -q >> "$TMP.log" 2>&1
chroot "$TMP" env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Check-Valid-Until=false \
  install -y -q --no-install-recommends asterisk asterisk-modules asterisk-core-sounds-en-gsm \
  asterisk-moh-opsound-gsm socat >> "$TMP.log" 2>&1 || { tail -20 "$TMP.log" >&2; exit 1; }
chroot "$TMP" apt-get clean >> "$TMP.log" 2>&1 || true
echo "asterisk rootfs: [3/3] fixing permissions"
# Trees installed in the chroot come out owned by an odd uid; even root is refused.
for d in etc/asterisk var/lib/asterisk var/log/asterisk var/spool/asterisk usr/share/asterisk; do
  [ -e "$TMP/$d" ] && chmod -R a+rwX "$TMP/$d"
done
mkdir -p "$TMP/run/asterisk" "$TMP/srv/cti"
chroot "$TMP" asterisk -V
touch "$TMP/.cti-rootfs-ok"
rm -rf "$DIR"
mv "$TMP" "$DIR"
mv "$TMP.log" "$DIR.build.log"
echo "asterisk rootfs: ready at $DIR"
