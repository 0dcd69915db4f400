#!/usr/bin/env bash
# `make run`: set up, build the release site, migrate and serve on the
# embedded defaults (SQLite and files under ./data). Settings: see README or
# `uni1 serve --help`; UNI1_* variables given here pass through.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
# shellcheck source=/dev/null
source .uni1-cache/env
echo "==> building the release site (first time: about 10 minutes on 2 cores)"
scripts/build-site.sh --release
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
exec "$TARGET_DIR/release/uni1" serve "$@"
