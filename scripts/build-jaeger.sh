#!/usr/bin/env bash
# Build (or reuse) a Jaeger v2 binary (`cmd/jaeger`) for end-to-end tests.
#
# The binary is put OUTSIDE the repository:
#
#   ${NOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nginx-otel-sidecar}/jaeger/<version>/jaeger
#
# and reused while it exists and runs. stdout: the binary path (last line);
# progress goes to stderr.
#
# Which Jaeger
# ------------
# Jaeger v2 releases are tagged `v2.x.y` in github.com/jaegertracing/jaeger,
# but the Go module path has no /v2 suffix, so those tags are NOT Go module
# versions. Until the end of 2025 every release also got a `v1.x.y` tag on the
# same commit (v1.73.0 <-> v2.10.0 ... v1.76.0 <-> v2.13.0); v1.76.0 was the
# last one. Newer releases (v2.14+) can only be fetched by commit hash /
# pseudo-version.
#
# DEFAULT: v1.76.0 == Jaeger v2.13.0, release commit
#          63b27e1810a710ac54dc4522da0538e540bdc545 (2025-12-03).
# This is the newest Jaeger the Go module proxy reachable from this project
# serves: it answers 403 "This module version is not available" for every
# commit hash / pseudo-version tried, including the v2.17.0 and v2.18.0 release
# commits (b5be18b10053a087a9bb272a1d9a0c71bcaac2c7,
# 2199381846c652939a361f1ecc3fe667635922d6). Jaeger v2.19.0 (2026-06-03, PR
# jaegertracing/jaeger#8696) is the first release whose HTTP API
# `GET /api/v3/traces` honours `query.attributes` (jaegertracing/jaeger#8687).
# v2.13.0 IGNORES that parameter on the HTTP API (attribute search works there
# only via the gRPC api_v3 on the query gRPC port, or via the UI's internal
# HTTP API `GET /api/traces?service=...&tags={"key":"value"}`).
#
# To use a newer release when your proxy serves it, set JAEGER_VERSION to its
# full commit hash or pseudo-version, e.g.
#   JAEGER_VERSION=<40-hex commit of v2.19.0> scripts/build-jaeger.sh
#
# Why not `go install .../cmd/jaeger@<version>`? The jaeger go.mod contains a
# `replace` directive (github.com/Shopify/sarama), which `go install pkg@ver`
# refuses. So the module source is downloaded with `go mod download` (same
# module cache and checksum verification) and built inside a copy of it,
# honouring the module's own go.mod/go.sum.
#
# Environment: NOS_CACHE, JAEGER_VERSION, NOS_JAEGER_FORCE=1, GO (see above).
set -euo pipefail

JAEGER_MODULE="github.com/jaegertracing/jaeger"
JAEGER_VERSION="${JAEGER_VERSION:-v1.76.0}"
# Release name / commit baked into `jaeger version` for known versions.
declare -A RELEASE_OF=( [v1.76.0]="v2.13.0" )
declare -A COMMIT_OF=( [v1.76.0]="63b27e1810a710ac54dc4522da0538e540bdc545" )

log() { printf '[jaeger-build] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [[ -n "${GO:-}" ]]; then
  go_bin="$GO"
elif command -v go >/dev/null 2>&1; then
  go_bin="$(command -v go)"
elif [[ -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
else
  die "no Go toolchain found (set GO=/path/to/go or put go on PATH)"
fi
export PATH="$(dirname "$go_bin"):$PATH"

cache_root="${NOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nginx-otel-sidecar}"
gobin="${cache_root}/jaeger/${JAEGER_VERSION}"
bin="${gobin}/jaeger"

binary_ok() { [[ -x "$1" ]] && "$1" version >/dev/null 2>&1; }

if [[ "${NOS_JAEGER_FORCE:-0}" != 1 ]] && binary_ok "$bin"; then
  log "reusing cached jaeger ${JAEGER_VERSION}"
  printf '%s\n' "$bin"
  exit 0
fi

mkdir -p "$gobin"
exec 9>"${gobin}.lock"
if command -v flock >/dev/null 2>&1; then
  log "waiting for build lock ${gobin}.lock"
  flock 9
fi
if [[ "${NOS_JAEGER_FORCE:-0}" != 1 ]] && binary_ok "$bin"; then
  log "jaeger was built by a concurrent run"
  printf '%s\n' "$bin"
  exit 0
fi

export CGO_ENABLED=0
export GOFLAGS=-trimpath

log "downloading ${JAEGER_MODULE}@${JAEGER_VERSION}"
info="$(cd / && "$go_bin" mod download -json "${JAEGER_MODULE}@${JAEGER_VERSION}")" \
  || die "cannot download ${JAEGER_MODULE}@${JAEGER_VERSION} from the Go module proxy"
json_field() { printf '%s\n' "$info" | sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" | head -n1; }
mod_dir="$(json_field Dir)"
resolved="$(json_field Version)"
[[ -n "$mod_dir" && -d "$mod_dir/cmd/jaeger" ]] || die "module has no cmd/jaeger (Dir=${mod_dir:-?})"
log "resolved ${JAEGER_VERSION} -> ${resolved} (${mod_dir})"

src="${gobin}/src"
rm -rf "$src"
cp -R "$mod_dir" "$src"
chmod -R u+w "$src"

release="${RELEASE_OF[$JAEGER_VERSION]:-$resolved}"
ldflags="-s -w"
ldflags+=" -X ${JAEGER_MODULE}/internal/version.latestVersion=${release}"
ldflags+=" -X ${JAEGER_MODULE}/internal/version.commitSHA=${COMMIT_OF[$JAEGER_VERSION]:-$resolved}"

start=$(date +%s)
log "compiling ./cmd/jaeger with $("$go_bin" version) (several minutes on 2 cores the first time)"
(
  cd "$src"
  "$go_bin" build -mod=readonly -ldflags "$ldflags" -o "${bin}.tmp.$$" ./cmd/jaeger >&2
)
mv -f "${bin}.tmp.$$" "$bin"
rm -rf "$src"
binary_ok "$bin" || die "built binary does not run: $bin"
log "built in $(( $(date +%s) - start ))s"
printf '%s\n' "$bin"
