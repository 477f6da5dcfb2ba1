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
#   * end-to-end (when Jaeger is available): jaeger-test.yaml + test-collector.yaml,
#       one OTLP/JSON trace posted to the collector's OTLP/HTTP port must be
#       readable from Jaeger's GET /api/v3/traces/{id}; then gateway.yaml in
#       front of the same Jaeger must keep a trace whose `connect` span lasts
#       600 ms and drop one whose `connect` span lasts 100 ms (baseline 0 %).
#
# Exits non-zero if any config fails. Progress on stderr; a summary line
# "validate: N passed, N failed" on stdout.
#
# Environment:
#   NOS_VALIDATE_SMOKE=0   skip the smoke starts (validate only)
#   NOS_VALIDATE_E2E=0     skip the end-to-end checks
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
    # AWS_EC2_METADATA_DISABLED: never probe the EC2 metadata address.
    export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_XRAY_LOCAL_MODE=true AWS_EC2_METADATA_DISABLED=true
    exec "$otelcol" --config "$cfg"
  ) >"$out" 2>&1 &
  pid=$!
  pids+=("$pid")
  for i in $(seq 1 100); do
    if grep -qs "Everything is ready" "$out"; then ok=0; break; fi
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

# ---------------------------------------------------------------- end-to-end
# Prints an OTLP/JSON trace (SERVER -> CLIENT -> INTERNAL `connect`) whose
# connect span lasts $2 ms.
otlp_trace() {
  python3 - "$1" "$2" <<'PY'
import json, sys, time
tid, ms = sys.argv[1], int(sys.argv[2])
t0 = time.time_ns() - 2_000_000_000
def span(sid, parent, name, kind, start, dur_ms, attrs=()):
    d = {"traceId": tid, "spanId": sid, "name": name, "kind": kind,
         "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + dur_ms * 1_000_000),
         "attributes": [{"key": k, "value": v} for k, v in attrs]}
    if parent:
        d["parentSpanId"] = parent
    return d
spans = [span("1111111111111111", None, "GET /", 2, t0, ms + 20,
              [("http.response.status_code", {"intValue": "200"})]),
         span("2222222222222222", "1111111111111111", "GET", 3, t0 + 1_000_000, ms + 10),
         span("3333333333333333", "2222222222222222", "connect", 1, t0 + 1_000_000, ms)]
print(json.dumps({"resourceSpans": [{"resource": {"attributes": [
    {"key": "service.name", "value": {"stringValue": "nos-validate"}}]},
    "scopeSpans": [{"scope": {"name": "validate.sh"}, "spans": spans}]}]}))
PY
}

# wait_for CMD... : retry CMD for up to ~10 s.
wait_for() { local i; for i in $(seq 1 100); do "$@" && return 0; sleep 0.1; done; return 1; }
http_ok() { curl -sf -o /dev/null "$1"; }
trace_status() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${jq_port}/api/v3/traces/$1"; }
trace_found() { [[ "$(trace_status "$1")" == 200 ]]; }

e2e() {
  local jpid cpid gpid tid_fwd tid_slow tid_fast code j_grpc
  j_grpc="$(free_port)"; jq_port="$(free_port)"
  JAEGER_HOST=127.0.0.1 JAEGER_OTLP_GRPC_PORT="$j_grpc" JAEGER_OTLP_HTTP_PORT="$(free_port)" \
  JAEGER_QUERY_HTTP_PORT="$jq_port" JAEGER_QUERY_GRPC_PORT="$(free_port)" \
    "$jaeger" --config "$here/jaeger-test.yaml" >"$tmp/jaeger.log" 2>&1 & jpid=$!; pids+=("$jpid")
  if ! wait_for http_ok "http://127.0.0.1:${jq_port}/api/v3/services"; then
    log "FAIL e2e: Jaeger did not come up"; sed 's/^/    /' "$tmp/jaeger.log" >&2; return 1
  fi

  # 1. test-collector.yaml forwards OTLP/HTTP -> Jaeger.
  local c_http; c_http="$(free_port)"
  NOS_TEST_OTLP_HTTP_PORT="$c_http" NOS_TEST_OTLP_GRPC_PORT="$(free_port)" \
  JAEGER_OTLP_ENDPOINT="127.0.0.1:${j_grpc}" \
    "$otelcol" --config "$here/test-collector.yaml" >"$tmp/collector.log" 2>&1 & cpid=$!; pids+=("$cpid")
  wait_for grep -qs "Everything is ready" "$tmp/collector.log" || { log "FAIL e2e: collector did not start"; sed 's/^/    /' "$tmp/collector.log" >&2; return 1; }
  tid_fwd="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  otlp_trace "$tid_fwd" 120 | curl -sf -o /dev/null -H 'Content-Type: application/json' \
    --data-binary @- "http://127.0.0.1:${c_http}/v1/traces" || { log "FAIL e2e: POST /v1/traces"; return 1; }
  if ! wait_for trace_found "$tid_fwd"; then
    log "FAIL e2e: trace $tid_fwd not found in Jaeger"; sed 's/^/    /' "$tmp/collector.log" >&2; return 1
  fi
  log "ok   e2e test-collector.yaml -> jaeger-test.yaml (trace $tid_fwd)"

  # 2. gateway.yaml tail sampling: slow connect kept, fast connect dropped.
  local g_http; g_http="$(free_port)"
  OTEL_LISTEN_HOST=127.0.0.1 OTEL_OTLP_HTTP_PORT="$g_http" OTEL_OTLP_GRPC_PORT="$(free_port)" \
  OTEL_HEALTH_ENDPOINT="127.0.0.1:$(free_port)" OTEL_METRICS_PORT="$(free_port)" \
  JAEGER_OTLP_ENDPOINT="127.0.0.1:${j_grpc}" TAIL_DECISION_WAIT=1s TAIL_BASELINE_PERCENT=0 \
    "$otelcol" --config "$here/gateway.yaml" >"$tmp/gateway.log" 2>&1 & gpid=$!; pids+=("$gpid")
  wait_for grep -qs "Everything is ready" "$tmp/gateway.log" || { log "FAIL e2e: gateway did not start"; sed 's/^/    /' "$tmp/gateway.log" >&2; return 1; }
  tid_slow="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  tid_fast="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  otlp_trace "$tid_slow" 600 | curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary @- "http://127.0.0.1:${g_http}/v1/traces"
  otlp_trace "$tid_fast" 100 | curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary @- "http://127.0.0.1:${g_http}/v1/traces"
  if ! wait_for trace_found "$tid_slow"; then
    log "FAIL e2e: gateway dropped the slow-connect trace $tid_slow"; sed 's/^/    /' "$tmp/gateway.log" >&2; return 1
  fi
  # Both traces were decided in the same tick; give the fast one a moment more.
  sleep 1
  code="$(trace_status "$tid_fast")"
  if [[ "$code" != 404 ]]; then
    log "FAIL e2e: gateway kept the fast-connect trace $tid_fast (HTTP $code)"; return 1
  fi
  log "ok   e2e gateway.yaml tail sampling (slow connect kept, fast connect dropped)"

  kill "$gpid" "$cpid" "$jpid" 2>/dev/null || true
  wait "$gpid" "$cpid" "$jpid" 2>/dev/null || true
  return 0
}

if [[ -n "$jaeger" && "${NOS_VALIDATE_E2E:-1}" != 0 && -f "$here/jaeger-test.yaml" && -f "$here/test-collector.yaml" && -f "$here/gateway.yaml" ]]; then
  # Not in a subshell: the EXIT trap must see the pids it starts.
  if e2e; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

echo "validate: ${passed} passed, ${failed} failed"
[[ $failed -eq 0 ]]
