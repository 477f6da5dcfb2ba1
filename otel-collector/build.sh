#!/usr/bin/env bash
# Build (or reuse) the nginx-otel-sidecar OpenTelemetry Collector distribution
# "otelcol-nos" described by otel-collector/builder-config.yaml.
#
# The binary lives OUTSIDE the repository, in a cache keyed by a hash of the
# manifest (plus the builder version):
#
#   ${NOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nginx-otel-sidecar}/otelcol/<hash>/otelcol-nos
#
# If that file exists and runs, it is reused (a cached run takes well under a
# second). Otherwise the OpenTelemetry Collector Builder (ocb) is installed
# into the cache and the distribution is generated and compiled there.
#
# stdout: exactly one line, the absolute path of the binary (last line).
# stderr: progress and build output.
#
# Environment:
#   NOS_CACHE        cache root (default: $XDG_CACHE_HOME or ~/.cache, /nginx-otel-sidecar)
#   NOS_OTELCOL_FORCE=1   rebuild even if a cached binary exists
#   GO               go executable (default: `go` on PATH, else /usr/local/go/bin/go)
# GOPATH/GOCACHE/GOMODCACHE are left alone so the module and build caches are
# shared with every other Go build on the machine.
#
# Cost: the first build compiles ~500 packages (AWS SDK, gRPC, contrib
# components); on a 2-core machine that is several minutes (see the report in
# the commit that added this file). Later runs are cache hits.
set -euo pipefail

# Must match the `gomod:` versions in builder-config.yaml. v0.159.0 is the
# newest collector release for which every module we need (including the
# transitive contrib modules internal/aws/xray and internal/aws/awsutil) can be
# downloaded from the Go module proxy available to this project.
BUILDER_VERSION="v0.159.0"
DIST_NAME="otelcol-nos"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="${here}/builder-config.yaml"

log() { printf '[otelcol-build] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -f "$manifest" ]] || die "manifest not found: $manifest"

if [[ -n "${GO:-}" ]]; then
  go_bin="$GO"
elif command -v go >/dev/null 2>&1; then
  go_bin="$(command -v go)"
elif [[ -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
else
  die "no Go toolchain found (set GO=/path/to/go or put go on PATH)"
fi
# ocb invokes `go` itself; make sure it finds the same toolchain.
export PATH="$(dirname "$go_bin"):$PATH"

cache_root="${NOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nginx-otel-sidecar}"

hash_input() { cat "$manifest"; printf '\nbuilder=%s\n' "$BUILDER_VERSION"; }
if command -v sha256sum >/dev/null 2>&1; then
  manifest_hash="$(hash_input | sha256sum | cut -c1-16)"
else
  manifest_hash="$(hash_input | shasum -a 256 | cut -c1-16)"
fi

out_dir="${cache_root}/otelcol/${manifest_hash}"
bin="${out_dir}/${DIST_NAME}"

binary_ok() { [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1; }

if [[ "${NOS_OTELCOL_FORCE:-0}" != 1 ]] && binary_ok "$bin"; then
  log "reusing cached collector ($("$bin" --version 2>/dev/null | head -n1))"
  printf '%s\n' "$bin"
  exit 0
fi

mkdir -p "$out_dir"

# Serialize concurrent builds of the same manifest (several test suites may
# call this script at the same time).
exec 9>"${out_dir}.lock"
if command -v flock >/dev/null 2>&1; then
  log "waiting for build lock ${out_dir}.lock"
  flock 9
fi
if [[ "${NOS_OTELCOL_FORCE:-0}" != 1 ]] && binary_ok "$bin"; then
  log "collector was built by a concurrent run"
  printf '%s\n' "$bin"
  exit 0
fi

export CGO_ENABLED=0
export GOFLAGS=-trimpath

builder_dir="${cache_root}/otelcol/builder/${BUILDER_VERSION}"
builder="${builder_dir}/builder"
if [[ ! -x "$builder" ]]; then
  log "installing go.opentelemetry.io/collector/cmd/builder@${BUILDER_VERSION} into ${builder_dir}"
  mkdir -p "$builder_dir"
  GOBIN="$builder_dir" "$go_bin" install "go.opentelemetry.io/collector/cmd/builder@${BUILDER_VERSION}" >&2
fi

work="${out_dir}/src"
rm -rf "$work"
mkdir -p "$work"
cp "$manifest" "${work}/builder-config.yaml"

log "building ${DIST_NAME} (manifest hash ${manifest_hash}) with $("$go_bin" version)"
log "work dir: ${work}"
start=$(date +%s)
(
  cd "$work"
  # output_path in the manifest is relative (./_build) -> inside $work.
  "$builder" --config builder-config.yaml >&2
)
built="${work}/_build/${DIST_NAME}"
[[ -x "$built" ]] || die "builder finished but ${built} is missing"
mv -f "$built" "${bin}.tmp.$$"
mv -f "${bin}.tmp.$$" "$bin"
# Keep the generated sources (go.mod/components.go) for debugging, drop the rest.
rm -rf "${work}/_build/${DIST_NAME}"
binary_ok "$bin" || die "built binary does not run: $bin"
log "built in $(( $(date +%s) - start ))s: $("$bin" --version | head -n1)"
printf '%s\n' "$bin"
