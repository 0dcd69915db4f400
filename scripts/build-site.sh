#!/usr/bin/env bash
# Builds the site: the server binary, the WASM split into one chunk per page
# (`--split`, see uni1_app::lazy_pages), content-hashed asset names
# (`hash-files` in Cargo.toml), then the .br/.gz files the server sends as
# they are.
#
#   scripts/build-site.sh            debug build (tests)
#   scripts/build-site.sh --release  release build (make run, benchmarks)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ "${1:-}" == "--release" ]]; then
  cargo leptos build --split --release
  node scripts/precompress.mjs target/site
else
  cargo leptos build --split
  node scripts/precompress.mjs target/site --fast
fi
