# Source me: puts a Node.js ≥ 22.15 on PATH (installing Node 24 from the npm registry into
# the cache when the machine's own node is older) and sets NOS_CACHE.
NOS_CACHE="${NOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nginx-otel-sidecar}"
export NOS_CACHE
nos_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=15)?0:1)'
}
if ! nos_node_ok; then
  if [ ! -x "$NOS_CACHE/node24/node_modules/.bin/node" ]; then
    echo "installing Node 24 into $NOS_CACHE/node24 (from the npm registry)…" >&2
    mkdir -p "$NOS_CACHE/node24"
    npm install --silent --no-audit --no-fund --prefix "$NOS_CACHE/node24" node@24 >&2
  fi
  export PATH="$NOS_CACHE/node24/node_modules/.bin:$PATH"
fi
nos_node_ok || { echo "could not get Node.js >= 22.15" >&2; return 1 2>/dev/null || exit 1; }
