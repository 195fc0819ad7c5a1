#!/usr/bin/env bash
# The whole test suite: install what is missing, type-check, lint, then every test
# (unit, recorded-socket replays, and the lab tests that start real charon daemons
# in network namespaces: those need root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent typecheck
npm run --silent lint
shopt -s nullglob
files=(test/unit/*.test.ts test/integration/*.test.ts)
if [ "$(id -u)" -ne 0 ]; then
  echo "test: not root: running the unit tests only (the lab needs root for network namespaces)" >&2
  files=(test/unit/*.test.ts)
fi
# spec: its closing "failing tests" list names what failed; then the counts by kind (scripts/test-kinds.mjs)
kinds=$(mktemp)
trap 'rm -f "$kinds"' EXIT
rc=0
node --import tsx --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./scripts/test-kinds.mjs --test-reporter-destination="$kinds" \
  --test-concurrency=2 --test-timeout=600000 "${files[@]}" || rc=$?
cat "$kinds"
exit $rc
