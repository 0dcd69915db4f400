#!/usr/bin/env bash
# `make lighthouse`: Lighthouse 12 (mobile, default throttling) on the
# release build, every page of the performance goals; prints the table.
# Installs the npm `lighthouse` package on first use; uses Debian Chromium.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh --test >/dev/null
# shellcheck source=/dev/null
source .uni1-cache/env
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ -x node_modules/.bin/lighthouse ]] || npm install --no-save --no-audit --no-fund lighthouse@12 >/dev/null
scripts/build-site.sh --release >/dev/null 2>&1 || scripts/build-site.sh --release

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d)
export UNI1_DATA_DIR="$data" RUST_LOG=warn
password="lighthouse passphrase $(date +%s) not for use"
printf '%s\n' "$password" | "$TARGET_DIR/release/uni1" admin create-user \
  --email lighthouse@example.org --name Lighthouse --password-stdin >/dev/null
"$TARGET_DIR/release/uni1" serve --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" >"$data/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 60); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
node scripts/lighthouse.mjs "http://127.0.0.1:$port" lighthouse@example.org "$password" target/lighthouse
