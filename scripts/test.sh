#!/usr/bin/env bash
# The README's test command: installs everything the tests need on a fresh Debian machine
# (nginx, iptables, wrk, Node 24, npm packages, the OpenTelemetry Collector and Jaeger),
# runs every test, and ends with one line: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nginx >/dev/null || need_apt+=(nginx)
command -v iptables >/dev/null || need_apt+=(iptables)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v tc >/dev/null || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
fi
# The Debian package starts nginx on port 80; the tests run their own.
if [ -f /run/nginx.pid ]; then nginx -s stop 2>/dev/null || true; fi

bash scripts/install-deps.sh
source scripts/env.sh

# The collector and Jaeger for the end-to-end tests (built once, cached outside the repo).
if command -v go >/dev/null; then
  NOS_OTELCOL_BIN="$(bash otel-collector/build.sh | tail -n 1)"
  NOS_JAEGER_BIN="$(bash scripts/build-jaeger.sh | tail -n 1)"
  export NOS_OTELCOL_BIN NOS_JAEGER_BIN
elif [ "${CI:-}" = "true" ]; then
  echo "Go is required in CI to build the collector and Jaeger" >&2
  exit 1
fi

report="$(mktemp)"
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
set -e
node -e '
  const fs = require("fs");
  let r = {};
  try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch {}
  const passed = r.numPassedTests ?? 0, failed = (r.numFailedTests ?? 0) + (r.numRuntimeErrorTests ?? 0);
  console.log(`tests: ${passed} passed, ${failed} failed`);
' "$report"
rm -f "$report"
exit $status
