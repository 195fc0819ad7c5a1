#!/usr/bin/env bash
# The Debian package as an operator meets it: builds it (npm run package) and lints it, then boots
# a fresh Debian 12 with systemd as PID 1 in a container, installs Debian's strongSwan and Node 20
# as a package, installs the .deb with apt-get and runs test/system/*.test.ts against it (start,
# reload, journald, watchdog, charon restart, purge). Needs root on a Debian host that can run
# systemd-nspawn; .ci/run runs it after the suite.
#
#   bash scripts/test-system.sh                 (npm run test:system)
#
# With TEST_ROOT (a fresh root where scripts/test.sh already ran, as in .ci/run) the package is built
# and linted there, and the system test runs from that root's clone; otherwise from this checkout.
# SYSTEM_ROOT names the container's root directory (default: a new one under /var/tmp); NODEJS_DEB a
# nodejs package to install instead of one repacked from this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=fresh-debian.sh
. scripts/fresh-debian.sh

# A root this script makes is removed on exit; one named by SYSTEM_ROOT belongs to the caller (it
# must not exist yet: debootstrap makes it) and is only unmounted.
OWN_WORK=
if [ -z "${SYSTEM_ROOT:-}" ]; then
  OWN_WORK=$(mktemp -d /var/tmp/ipsec-keepalive-system.XXXXXX)
  SYSTEM_ROOT=$OWN_WORK/root
elif [ -e "$SYSTEM_ROOT" ]; then
  echo "test-system: SYSTEM_ROOT $SYSTEM_ROOT exists; name a new directory" >&2
  exit 64
fi
OUT=$(mktemp -d)
cleanup() {
  local rc=$?
  debian_unboot
  [ -n "$OWN_WORK" ] && debian_remove "$SYSTEM_ROOT" && rm -rf "$OWN_WORK"
  rm -rf "$OUT"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t=$SECONDS
step() { echo "test-system: $1 ($((SECONDS - t)) s)"; t=$SECONDS; }

debian_host_tools
command -v dpkg-repack >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-repack >/dev/null

# --- the package, built and linted where the suite ran ---------------------------------------------
LINT='lintian --fail-on error --pedantic --display-info "$deb"'
if [ -n "${TEST_ROOT:-}" ]; then
  debian_run "$TEST_ROOT" /bin/bash -c "set -e; cd /root/p; deb=\$(bash scripts/package.sh /root/deb | tail -n 1); echo \"test-system: lintian \$deb\"; $LINT"
  cp "$TEST_ROOT"/root/deb/ipsec-keepalive_*.deb "$OUT/"
  CHECKOUT=$TEST_ROOT/root/p
else
  bash scripts/setup.sh
  deb=$(bash scripts/package.sh "$OUT" | tail -n 1)
  echo "test-system: lintian $deb"
  eval "$LINT"
  CHECKOUT=$PWD
fi
step "package built and linted"

# Node 20 as an operator has it: a nodejs package (Debian 12's own is 18), made from this machine's
# (NODEJS_DEB names one made before, to save the minute dpkg-repack takes).
if [ -n "${NODEJS_DEB:-}" ]; then cp "$NODEJS_DEB" "$OUT/"; else (cd "$OUT" && dpkg-repack nodejs >/dev/null 2>"$OUT/dpkg-repack.log") || { cat "$OUT/dpkg-repack.log" >&2; exit 1; }; fi
step "nodejs package"

# --- a booted Debian 12 with strongSwan -------------------------------------------------------------
debian_root "$SYSTEM_ROOT" systemd,systemd-sysv,dbus
debian_prepare "$SYSTEM_ROOT"
mkdir -p "$SYSTEM_ROOT/root/debs"
cp "$OUT"/*.deb "$SYSTEM_ROOT/root/debs/"
cp lab/target-server.mjs "$SYSTEM_ROOT/root/"
step "fresh Debian 12 root"
# What the operator had before our package: strongSwan (swanctl front end, charon-systemd), the peer's
# charon for the test's second gateway, and Node 20. Installed before the boot, while the root shares
# this machine's network; the booted container has a network of its own (loopback and the test's veth).
debian_run "$SYSTEM_ROOT" /bin/bash -c 'set -e; export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends charon-systemd strongswan-swanctl strongswan-charon \
    libcharon-extra-plugins iproute2 /root/debs/nodejs_*.deb >/dev/null
  # What our package depends on beyond that, downloaded only: the booted container has no route to
  # the registry, and `apt-get install ./ipsec-keepalive_*.deb` there must find its Depends itself.
  apt-get install -y -qq --no-install-recommends --download-only /root/debs/ipsec-keepalive_*.deb >/dev/null'
step "strongSwan and nodejs installed"

debian_boot "$SYSTEM_ROOT" "$OUT/boot.log" --private-network
step "booted"

DEB=$(cd "$SYSTEM_ROOT/root/debs" && ls ipsec-keepalive_*.deb)
cd "$CHECKOUT"
rc=0
IK_SYSTEM_PID=$BOOT_PID IK_SYSTEM_DEB=/root/debs/$DEB \
  node --import tsx --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./scripts/test-kinds.mjs --test-reporter-destination="$OUT/kinds" \
  --test-concurrency=1 --test-timeout=600000 test/system/*.test.ts || rc=$?
cat "$OUT/kinds"
[ "$rc" -eq 0 ] || exit "$rc"
step "system tests"
