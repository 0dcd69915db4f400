#!/usr/bin/env bash
# `make bench`: size and speed figures, measured side by side in one run.
#   1. The release WASM bundle: raw, gzip and brotli bytes.
#   2. The landing page rendered by SSR vs the same server answering the
#      same bytes as a static file: requests/s and p99 latency with wrk,
#      and their ratio. Both go through the same middleware stack.
#   3. Generation (server/benches/generation.rs): encoding time of the
#      stored variants, submit -> stored on SQLite and PostgreSQL with 1 and
#      2 workers, and encrypted media vs the same bytes as a static file.
#   4. The developer API (server/benches/api.rs): request -> job queued
#      through /v1/predictions next to the studio's server function.
# Needs wrk (apt-get install wrk; installed here if missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh >/dev/null
# shellcheck source=/dev/null
source .uni1-cache/env
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DURATION="${UNI1_BENCH_SECONDS:-10}"
CONNECTIONS="${UNI1_BENCH_CONNECTIONS:-64}"
command -v wrk >/dev/null || { echo "==> installing wrk"; apt-get install -y -qq wrk >/dev/null; }

echo "==> release build"
scripts/build-site.sh --release >/dev/null 2>&1 || scripts/build-site.sh --release

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d)
RUST_LOG=warn UNI1_DATA_DIR="$data" "$TARGET_DIR/release/uni1" serve --listen "127.0.0.1:$port" >"$data/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data" target/site/bench-landing.html' EXIT
for _ in $(seq 60); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
curl -fs "http://127.0.0.1:$port/" -o target/site/bench-landing.html

echo "==> WASM: what each page downloads before it is interactive (brotli)"
node scripts/route-bytes.mjs "http://127.0.0.1:$port" target/site \
  / /sign-in /sign-up /explore /privacy /terms /contact /pricing /studio /gallery /collections /settings /settings/security /billing

run_wrk() { # url -> "rps p99_ms"
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    END {printf "%s %s\n", rps, p99}'
}
echo "==> warm-up"; wrk -t2 -c8 -d2s "http://127.0.0.1:$port/" >/dev/null
echo "==> load: ${CONNECTIONS} connections, ${DURATION}s each, one after the other"
read -r ssr_rps ssr_p99 < <(run_wrk "http://127.0.0.1:$port/")
read -r static_rps static_p99 < <(run_wrk "http://127.0.0.1:$port/bench-landing.html")
bytes=$(wc -c < target/site/bench-landing.html)
echo
echo "| landing page ($bytes bytes) | requests/s | p99 (ms) |"
echo "|---|---|---|"
echo "| SSR | $ssr_rps | $ssr_p99 |"
echo "| same bytes, static file | $static_rps | $static_p99 |"
awk -v a="$ssr_rps" -v b="$static_rps" -v c="$ssr_p99" -v d="$static_p99" \
  'BEGIN {printf "| SSR / static | %.2f | %.2f |\n", a/b, c/d}'
echo
echo "(machine: $(nproc) cores; wrk and the server share them)"

echo
echo "==> generation (cargo bench -p uni1-server --bench generation)"
cargo bench --locked -p uni1-server --bench generation 2>/dev/null

echo
echo "==> developer API submit overhead (cargo bench -p uni1-server --bench api)"
cargo bench --locked -p uni1-server --bench api 2>/dev/null
