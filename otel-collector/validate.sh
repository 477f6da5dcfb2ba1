#!/usr/bin/env bash
# Validate every shipped collector config in otel-collector/ with the real
# binaries:
#
#   * otel-collector/*.yaml except builder-config.yaml and jaeger-*.yaml:
#       `otelcol-nos validate --config <file>` (binary from build.sh), then a
#       short smoke start on free loopback ports, because `validate` does not
#       instantiate components (e.g. it does not compile tail_sampling's OTTL
#       conditions); the smoke start does.
#   * otel-collector/jaeger-*.yaml: `jaeger validate --config <file>` with the
#       Jaeger v2 binary from scripts/build-jaeger.sh (they use Jaeger-only
#       components such as jaeger_storage / jaeger_query).
#
# Exits non-zero if any config fails. Progress on stderr; a summary line
# "validate: N passed, N failed" on stdout.
#
# Environment:
#   NOS_VALIDATE_SMOKE=0   skip the smoke starts (validate only)
#   NOS_SKIP_JAEGER=1      don't build/use Jaeger; jaeger-*.yaml are skipped
#   (plus whatever build.sh / scripts/build-jaeger.sh accept, e.g. NOS_CACHE)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

log() { printf '[validate] %s\n' "$*" >&2; }

otelcol="$("$here/build.sh" | tail -n1)"
log "collector: $otelcol"

jaeger=""
if [[ "${NOS_SKIP_JAEGER:-0}" != 1 ]] && compgen -G "$here/jaeger-*.yaml" >/dev/null; then
  jaeger="$("$repo/scripts/build-jaeger.sh" | tail -n1)"
  log "jaeger: $jaeger"
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

tmp="$(mktemp -d)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Start the collector with $1 on free ports, wait until it reports ready (or
# dies), then stop it. All receivers/listeners in the shipped configs take
# their host/ports from these variables.
smoke() {
  local cfg="$1" out="$tmp/smoke.log" pid ok=1 i
  (
    export OTEL_LISTEN_HOST=127.0.0.1 NOS_TEST_LISTEN_HOST=127.0.0.1
    export OTEL_OTLP_GRPC_PORT="$(free_port)" OTEL_OTLP_HTTP_PORT="$(free_port)"
    export NOS_TEST_OTLP_GRPC_PORT="$(free_port)" NOS_TEST_OTLP_HTTP_PORT="$(free_port)"
    export OTEL_HEALTH_ENDPOINT="127.0.0.1:$(free_port)" OTEL_METRICS_PORT="$(free_port)"
    # Exporters point at a closed loopback port; they only connect lazily.
    export JAEGER_OTLP_ENDPOINT="127.0.0.1:$(free_port)"
    export GATEWAY_DNS_NAME=localhost GATEWAY_OTLP_PORT="$(free_port)"
    # X-Ray: no EC2 metadata lookups, no credentials needed to start.
    export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_XRAY_LOCAL_MODE=true
    exec "$otelcol" --config "$cfg"
  ) >"$out" 2>&1 &
  pid=$!
  pids+=("$pid")
  for i in $(seq 1 100); do
    if grep -q "Everything is ready" "$out"; then ok=0; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ $ok -ne 0 ]]; then
    log "smoke start of $(basename "$cfg") FAILED; collector output:"
    sed 's/^/    /' "$out" >&2
  fi
  return $ok
}

passed=0 failed=0
for cfg in "$here"/*.yaml; do
  name="$(basename "$cfg")"
  case "$name" in
    builder-config.yaml) continue ;;
    jaeger-*.yaml)
      if [[ -z "$jaeger" ]]; then log "SKIP $name (no jaeger binary)"; continue; fi
      if "$jaeger" validate --config "$cfg" >"$tmp/out" 2>&1; then
        log "ok   $name (jaeger validate)"; passed=$((passed + 1))
      else
        log "FAIL $name (jaeger validate):"; sed 's/^/    /' "$tmp/out" >&2; failed=$((failed + 1))
      fi
      continue ;;
  esac
  if ! "$otelcol" validate --config "$cfg" >"$tmp/out" 2>&1; then
    log "FAIL $name (validate):"; sed 's/^/    /' "$tmp/out" >&2
    failed=$((failed + 1)); continue
  fi
  if [[ "${NOS_VALIDATE_SMOKE:-1}" != 0 ]]; then
    if ! smoke "$cfg"; then failed=$((failed + 1)); continue; fi
    log "ok   $name (validate + smoke start)"
  else
    log "ok   $name (validate)"
  fi
  passed=$((passed + 1))
done

echo "validate: ${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
