#!/usr/bin/env bash
# The README's quick start: installs what is needed, then replays a log recorded from real
# nginx (a proxy whose upstream drops SYNs) and prints each request as a span tree.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/env.sh
exec node dist/src/cli/bin.js replay --exporter console samples/quickstart.log "$@"
