#!/usr/bin/env bash
# Installs what the demo, the test suite and the package build need, only where it is missing, on a
# Debian 12 with Node 20: Debian's strongSwan (charon, swanctl, starter, libipsec), the tools the lab
# and the tests run (ip, nft, ping, curl, ss, setpriv, Prometheus, systemd-analyze, man, lintian),
# the build tools for native npm addons (and libsystemd's headers for sd-notify), then the npm packages from package-lock.json and the build.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# What is needed, as "test|Debian package": a command on PATH or an absolute path that must exist.
wanted=(
  /usr/lib/ipsec/charon"|strongswan-charon"
  swanctl"|strongswan-swanctl"
  /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"|libcharon-extra-plugins"
  /usr/lib/ipsec/starter"|strongswan-starter"
  nft"|nftables"
  ip"|iproute2"
  ping"|iputils-ping"
  curl"|curl"
  /bin/kill"|procps"
  prometheus"|prometheus"
  systemd-analyze"|systemd"
  man"|man-db"
  lintian"|lintian"
  dpkg-shlibdeps"|dpkg-dev"
  python3"|python3"
  make"|make"
  g++"|g++"
  /usr/include/systemd/sd-daemon.h"|libsystemd-dev"
)
need=()
for w in "${wanted[@]}"; do
  what=${w%%|*} pkg=${w##*|}
  if [[ $what == /* ]]; then [ -e "$what" ] && continue; else command -v "$what" >/dev/null && continue; fi
  need+=("$pkg")
done

t=$SECONDS
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${need[*]}); run as root or install them first" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the packages' own services (charon, prometheus) from starting here.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
  echo "setup: Debian packages installed in $((SECONDS - t)) s"
fi

t=$SECONDS
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  echo "setup: npm packages installed in $((SECONDS - t)) s"
fi

if [ ! -f dist/cli/main.js ] || [ -n "$(find src -newer dist/cli/main.js -name '*.ts' -print -quit 2>/dev/null)" ]; then
  npm run --silent build
fi
