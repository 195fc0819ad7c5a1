# Builds and enters fresh Debian 12 roots: what a new user's machine has, and nothing of this one's
# but Node 20 and the trust store its registries need. Sourced by .ci/run and scripts/test-system.sh.
#
#   debian_root DIR [PKG,PKG]   debootstrap --variant=minbase bookworm DIR (plus the packages named)
#   debian_prepare DIR          /etc/hosts, apt sources, the trust store
#   debian_node DIR             Node 20 from this machine, with its headers (for the test root)
#   debian_run DIR CMD...       run CMD in DIR with systemd-nspawn (no boot), stdout/stderr passed through
#   debian_boot DIR LOG [ARGS]  boot DIR with systemd as PID 1 (ARGS go to systemd-nspawn);
#                               sets BOOT_NSPAWN_PID and BOOT_PID
#   debian_in CMD...            run CMD inside the booted container (nsenter into its namespaces)
#   debian_unboot               stop the booted container
#   debian_remove DIR           remove a root (unmounting whatever a crashed run left inside)
#
# Never copied in: credentials of any kind. Copied in: the CA bundle and extra CAs, npm's
# cafile settings, and the CA environment variables, which this machine's apt and npm need.

SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

debian_host_tools() {
  local need=()
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v systemd-nspawn >/dev/null || need+=(systemd-container)
  command -v nsenter >/dev/null || need+=(util-linux)
  if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

debian_root() {
  local dir=$1 include=${2:-}
  debootstrap --variant=minbase ${include:+--include="$include"} "$SUITE" "$dir" "$MIRROR" >"$dir.debootstrap.log" 2>&1 || {
    tail -n 20 "$dir.debootstrap.log" >&2
    return 1
  }
  rm -f "$dir.debootstrap.log"
}

debian_prepare() {
  local dir=$1
  # An installed Debian has these; debootstrap writes neither.
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$dir/etc/hosts"
  cat >"$dir/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
  # The trust store this machine's registries are reached through.
  mkdir -p "$dir/etc/ssl/certs" "$dir/usr/local/share/ca-certificates"
  [ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
  [ -d /usr/local/share/ca-certificates ] && cp -r /usr/local/share/ca-certificates/. "$dir/usr/local/share/ca-certificates/"
  local rc
  for rc in /etc/npmrc /usr/etc/npmrc; do
    [ -f "$rc" ] || continue
    mkdir -p "$dir$(dirname "$rc")"
    # Only CA settings: a copied npmrc must never carry a token.
    grep -E '^(cafile|ca|strict-ssl)\s*=' "$rc" >"$dir$rc" || true
  done
}

debian_node() {
  local dir=$1
  # Node 20 as this machine has it (Debian 12's own nodejs is 18), with its headers: node-gyp
  # cannot download them here.
  cp /usr/bin/node "$dir/usr/bin/node"
  mkdir -p "$dir/usr/lib/node_modules" "$dir/usr/include"
  cp -r /usr/lib/node_modules/npm "$dir/usr/lib/node_modules/"
  cp -r /usr/include/node "$dir/usr/include/"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$dir/usr/bin/npx"
}

# The environment a command in the root gets: the CA variables (when set here) and Node's headers.
debian_env_args() {
  local v
  for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE; do
    [ -n "${!v:-}" ] && printf -- '--setenv=%s=%s\n' "$v" "${!v}"
  done
  printf -- '--setenv=npm_config_nodedir=/usr\n'
}

debian_run() {
  local dir=$1
  shift
  local env
  mapfile -t env < <(debian_env_args)
  systemd-nspawn --register=no --keep-unit -q --capability=CAP_NET_ADMIN --pipe \
    "${env[@]}" -D "$dir" "$@" </dev/null
}

BOOT_NSPAWN_PID=
BOOT_PID=

debian_boot() {
  local dir=$1 log=$2
  shift 2
  local env
  mapfile -t env < <(debian_env_args)
  systemd-nspawn --register=no --keep-unit -q --capability=CAP_NET_ADMIN "${env[@]}" "$@" -D "$dir" -b \
    </dev/null >"$log" 2>&1 &
  BOOT_NSPAWN_PID=$!
  local deadline=$((SECONDS + 90)) state=
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$BOOT_NSPAWN_PID" 2>/dev/null || {
      tail -n 30 "$log" >&2
      return 1
    }
    BOOT_PID=$(pgrep -P "$BOOT_NSPAWN_PID" | head -n 1 || true)
    if [ -n "$BOOT_PID" ]; then
      state=$(nsenter -t "$BOOT_PID" -a systemctl is-system-running 2>/dev/null || true)
      case "$state" in running | degraded) return 0 ;; esac
    fi
    sleep 0.5
  done
  echo "fresh-debian: the container did not finish booting in 90 s (state: ${state:-none})" >&2
  tail -n 30 "$log" >&2
  return 1
}

debian_in() {
  nsenter -t "$BOOT_PID" -a "$@"
}

debian_unboot() {
  [ -n "$BOOT_NSPAWN_PID" ] || return 0
  if kill -0 "$BOOT_NSPAWN_PID" 2>/dev/null; then
    # SIGTERM asks nspawn for a clean shutdown of the container; give it a while, then insist.
    kill -TERM "$BOOT_NSPAWN_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$BOOT_NSPAWN_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -KILL "$BOOT_NSPAWN_PID" 2>/dev/null || true
  fi
  wait "$BOOT_NSPAWN_PID" 2>/dev/null || true
  BOOT_NSPAWN_PID=
  BOOT_PID=
}

debian_remove() {
  local dir=$1
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  # Anything still mounted below the root (a run killed mid-way) is unmounted first, deepest first,
  # so that rm never walks into the host's /proc or /dev.
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)
  rm -rf --one-file-system "$dir"
  rm -f "$dir.debootstrap.log"
}
