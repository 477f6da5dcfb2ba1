#!/usr/bin/env bash
# Installs the project's npm dependencies (and builds dist/) when package-lock.json changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
stamp=node_modules/.nos-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp" || [ ! -d dist ]; then
  npm ci --no-audit --no-fund >&2
  cp package-lock.json "$stamp"
else
  npm run --silent build >&2
fi
