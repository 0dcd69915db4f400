#!/usr/bin/env bash
# Installs what uni1 needs to build and run (and, with --test, to test).
# Idempotent: a second run only checks versions and takes seconds. Never
# prompts. Needs: rustup + cargo, Node.js 20+ with npm, and for --test on
# Linux, apt-get (for Chromium) when /usr/bin/chromium is missing.
#
#   scripts/setup.sh          build tools: wasm32 target, cargo-leptos,
#                             wasm-bindgen-cli, Tailwind, wasm-opt
#   scripts/setup.sh --test   the above plus Chromium and Playwright
#
# It writes .uni1-cache/env, which the other scripts source: PATH with the
# npm tools first, and the Rust toolchain to use if the Debian fallback for
# the wasm32 standard library was needed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WITH_TEST_TOOLS=0
[[ "${1:-}" == "--test" ]] && WITH_TEST_TOOLS=1

CARGO_LEPTOS_VERSION=0.3.11
# cargo-leptos 0.3.11's locked dependencies need rustc >= 1.96; it is built
# with this toolchain when the default one is older.
TOOL_TOOLCHAIN=1.96.0
CACHE="$ROOT/.uni1-cache"
mkdir -p "$CACHE"
ENV_FILE="$CACHE/env"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  have apt-get || die "cannot install $* without apt-get; install it yourself and run again"
  if [[ ! -f "$CACHE/apt-updated" ]]; then
    as_root apt-get update -qq && touch "$CACHE/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

export PATH="$HOME/.cargo/bin:$PATH"
have cargo || die "Rust is missing: install rustup from https://rustup.rs and run again"
have rustup || die "rustup is missing (needed for the wasm32 target): see https://rustup.rs"

# Fast, correct builds of the tools: no LTO, many codegen units, opt-level 1.
# Measured on 2 cores: cargo-leptos in 6.4 min (27 min with its release defaults).
tool_build_env=(CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1)

# --- 1. The wasm32 target ------------------------------------------------------
TOOLCHAIN_LINE=""
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "wasm32 target: installed"
else
  say "wasm32 target: installing with rustup (may look stalled; up to 3 minutes)"
  timeout 180 rustup target add wasm32-unknown-unknown || true
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "wasm32 target: rustup could not fetch it; building Debian's wasm32 std instead"
    apt_install rustc-web cargo-web rust-web-src lld-22 rustfmt-web rust-web-clippy
    rustup toolchain list | grep -q '^debian' || rustup toolchain link debian /usr
    LIB=/usr/lib/rustlib/wasm32-unknown-unknown/lib
    if [[ "$(cat "$LIB/.built-by" 2>/dev/null)" != "$(/usr/bin/rustc -V)" ]]; then
      BUILD="${XDG_CACHE_HOME:-$HOME/.cache}/wasm32-std-build"
      RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS=-Zforce-unstable-if-unmarked \
        /usr/bin/cargo build --locked --profile dist --target wasm32-unknown-unknown --features backtrace \
        --manifest-path /usr/lib/rustlib/src/rust/library/sysroot/Cargo.toml --target-dir "$BUILD"
      as_root rm -rf "$LIB" && as_root mkdir -p "$LIB"
      as_root cp "$BUILD"/wasm32-unknown-unknown/dist/deps/lib*.{rlib,rmeta} "$LIB/"
      /usr/bin/rustc -V | as_root tee "$LIB/.built-by" >/dev/null
    fi
    TOOLCHAIN_LINE="export RUSTUP_TOOLCHAIN=debian"
  fi
fi

# --- 2. A toolchain new enough to build the tools ------------------------------
rustc_version=$(rustc -V | awk '{print $2}')
TOOL_CARGO=(cargo)
if ! version_ge "$rustc_version" "1.96.0"; then
  if ! rustup toolchain list | grep -q "^$TOOL_TOOLCHAIN"; then
    say "Rust $TOOL_TOOLCHAIN (to build cargo-leptos; rustc here is $rustc_version)"
    rustup toolchain install "$TOOL_TOOLCHAIN" --profile minimal
  fi
  TOOL_CARGO=(cargo "+$TOOL_TOOLCHAIN")
fi

# --- 3. cargo-leptos, without its own downloads --------------------------------
if [[ "$(cargo leptos --version 2>/dev/null)" == "cargo-leptos $CARGO_LEPTOS_VERSION" ]]; then
  say "cargo-leptos $CARGO_LEPTOS_VERSION: installed"
else
  say "cargo-leptos $CARGO_LEPTOS_VERSION: building (about 6 minutes on 2 cores)"
  env "${tool_build_env[@]}" "${TOOL_CARGO[@]}" install cargo-leptos \
    --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
fi

# --- 4. wasm-bindgen-cli at exactly the version in Cargo.lock ------------------
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
[[ -n "$WB_VERSION" ]] || die "cannot find wasm-bindgen in Cargo.lock"
if [[ "$(wasm-bindgen --version 2>/dev/null)" == "wasm-bindgen $WB_VERSION" ]]; then
  say "wasm-bindgen-cli $WB_VERSION: installed"
else
  say "wasm-bindgen-cli $WB_VERSION: building (about 1-5 minutes)"
  # Not --locked: its lockfile pins a crate this registry does not serve.
  env "${tool_build_env[@]}" "${TOOL_CARGO[@]}" install wasm-bindgen-cli --version "$WB_VERSION" --force
fi

# --- 5. Tailwind, wasm-opt (binaryen) and Playwright from npm -------------------
have npm || die "Node.js 20+ with npm is missing: install it (e.g. apt-get install nodejs npm) and run again"
if [[ ! -f node_modules/.uni1-installed || package.json -nt node_modules/.uni1-installed ]]; then
  say "npm tools: installing (tailwindcss, binaryen, @playwright/test)"
  # npm install, not npm ci: the registry serves only the Linux builds of
  # Tailwind's native package, so a lockfile never satisfies npm ci here.
  npm install --no-audit --no-fund --loglevel=error
  touch node_modules/.uni1-installed
else
  say "npm tools: installed"
fi
[[ "$("$ROOT/node_modules/.bin/wasm-opt" --version)" == *"version 132"* ]] || die "wasm-opt from npm binaryen 132 is not working"

# --- 6. Test-only tools ---------------------------------------------------------
if [[ $WITH_TEST_TOOLS -eq 1 ]]; then
  if [[ -x /usr/bin/chromium ]]; then
    say "chromium: installed"
  elif [[ "$(uname)" == Linux ]]; then
    say "chromium: installing from apt (Playwright never downloads a browser here)"
    apt_install chromium
  else
    die "install Chromium and set UNI1_CHROMIUM to its path"
  fi
  # A pinned PyPI package in its own venv under ~/.cache/uni1:
  # py_venv <name> <version> <module it imports as>.
  py_venv() {
    local venv="$HOME/.cache/uni1/$1-$2"
    if "$venv/bin/python" -c "import $3" 2>/dev/null; then
      say "$1 (Python) $2: installed"
    else
      say "$1 (Python) $2: installing from PyPI"
      have python3 || apt_install python3 python3-venv
      python3 -m venv "$venv" || { apt_install python3-venv && python3 -m venv "$venv"; }
      "$venv/bin/pip" install --quiet "$1==$2"
    fi
  }
  # localstripe: a Stripe API emulator with customers, plans, subscriptions
  # and signed webhooks, for the subscription test.
  py_venv localstripe 1.15.10 localstripe
  # The official OpenAI and Replicate Python clients, pinned: the developer
  # API's conformance tests run them unmodified against uni1 (issue 17).
  py_venv openai 3.51.0 openai
  py_venv replicate 1.0.7 replicate
  # A local S3 server that really checks SigV4 signatures, for the S3 tests.
  S3S_VERSION=0.14.1
  if [[ "$(cat "$HOME/.cargo/bin/.s3s-fs-version" 2>/dev/null)" == "$S3S_VERSION" ]] && have s3s-fs; then
    say "s3s-fs $S3S_VERSION: installed"
  else
    say "s3s-fs $S3S_VERSION: building (about 4 minutes on 2 cores)"
    env "${tool_build_env[@]}" "${TOOL_CARGO[@]}" install s3s-fs --version "$S3S_VERSION" --locked --features binary
    echo "$S3S_VERSION" > "$HOME/.cargo/bin/.s3s-fs-version"
  fi
fi

cat > "$ENV_FILE" <<ENV
# Written by scripts/setup.sh; sourced by the other scripts.
export PATH="$ROOT/node_modules/.bin:\$HOME/.cargo/bin:\$PATH"
# cargo-leptos sets this while building; keeping it set for every cargo call
# stops leptos_config from being rebuilt each time we switch commands.
export LEPTOS_OUTPUT_NAME=uni1
$TOOLCHAIN_LINE
ENV
say "setup complete"
