#!/usr/bin/env bash
# The demo: a two-gateway strongSwan lab with real charon daemons, and the agent on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --import tsx scripts/demo.ts "$@"
