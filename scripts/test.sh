#!/usr/bin/env bash
# `make test`: set up, then every check CI runs, in order, stopping at the
# first failure: format, clippy (server and browser builds), unit and HTTP
# tests on SQLite and PostgreSQL, the site build, and browser tests.
#
# PostgreSQL: uses UNI1_TEST_POSTGRES_URL, default
# postgres://postgres@127.0.0.1:5432/postgres. If nothing answers there, it
# tries to start the local cluster; if that fails too, the PostgreSQL tests
# are skipped with a loud warning (never silently). maildev (npm) is started
# on free loopback ports as the SMTP server the mail tests deliver to, and
# end2end/peers/oidc.mjs (npm oidc-provider) as Google's and GitHub's stand-in.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh --test
# shellcheck source=/dev/null
source .uni1-cache/env
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
START=$(date +%s)

step() {
  local name="$1"; shift
  local t0; t0=$(date +%s)
  printf '\n\033[1m==> %s\033[0m\n' "$name"
  "$@"
  printf '    (%s: %ss)\n' "$name" "$(( $(date +%s) - t0 ))"
}

ensure_postgres() {
  export UNI1_TEST_POSTGRES_URL="${UNI1_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  export UNI1_REQUIRE_POSTGRES=1
  if pg_isready -q -d "$UNI1_TEST_POSTGRES_URL" 2>/dev/null; then
    echo "PostgreSQL answers at $UNI1_TEST_POSTGRES_URL"
  elif command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
    echo "PostgreSQL is down; starting the local cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
    for _ in $(seq 20); do pg_isready -q -d "$UNI1_TEST_POSTGRES_URL" && break; sleep 0.5; done
  fi
  if ! pg_isready -q -d "$UNI1_TEST_POSTGRES_URL" 2>/dev/null; then
    export UNI1_REQUIRE_POSTGRES=0
    printf '\n\033[1;31m!!! NO POSTGRESQL at %s: POSTGRESQL TESTS WILL BE SKIPPED !!!\033[0m\n\n' "$UNI1_TEST_POSTGRES_URL"
    return
  fi
  # Databases left behind by an interrupted run.
  psql -q "$UNI1_TEST_POSTGRES_URL" -Atc "select datname from pg_database where datname like 'uni1_test_%'" 2>/dev/null |
    while read -r db; do psql -q "$UNI1_TEST_POSTGRES_URL" -c "drop database if exists \"$db\" with (force)" >/dev/null; done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# maildev: a real SMTP server with an HTTP API to read what it received.
start_maildev() {
  local smtp web
  smtp=$(free_port); web=$(free_port)
  node_modules/.bin/maildev --ip 127.0.0.1 --web-ip 127.0.0.1 -s "$smtp" -w "$web" >"$(mktemp)" 2>&1 &
  MAILDEV_PID=$!
  for _ in $(seq 40); do curl -fs "http://127.0.0.1:$web/api/email" >/dev/null && break; sleep 0.25; done
  curl -fs "http://127.0.0.1:$web/api/email" >/dev/null || { echo "maildev did not start"; return 1; }
  export UNI1_TEST_SMTP_URL="smtp://127.0.0.1:$smtp" UNI1_TEST_MAILDEV_URL="http://127.0.0.1:$web" UNI1_REQUIRE_PEERS=1
  echo "maildev: SMTP 127.0.0.1:$smtp, API http://127.0.0.1:$web"
}
# A real OpenID provider (npm oidc-provider) standing in for Google, with
# GitHub-shaped endpoints; it accepts redirects to the in-process test app
# (http://uni1.test) and to the browser-test server (E2E_PORT).
E2E_PORT=$(free_port)
start_oidc_provider() {
  local port log
  port=$(free_port); log=$(mktemp)
  node end2end/peers/oidc.mjs --port "$port" --app-base http://uni1.test --app-base "http://127.0.0.1:$E2E_PORT" >"$log" 2>"$log.err" &
  OIDC_PID=$!
  for _ in $(seq 40); do grep -q '^ready ' "$log" && break; sleep 0.25; done
  grep -q '^ready ' "$log" || { cat "$log" "$log.err"; echo "the OpenID provider did not start"; return 1; }
  export UNI1_TEST_OIDC_ISSUER="http://127.0.0.1:$port"
  echo "OpenID provider: $UNI1_TEST_OIDC_ISSUER"
}
# s3s-fs: a local S3 server that verifies SigV4 signatures (cargo-installed
# by setup); the storage tests run against it.
start_s3() {
  local port dir
  port=$(free_port); dir=$(mktemp -d)
  mkdir -p "$dir/uni1-test"
  s3s-fs --host 127.0.0.1 --port "$port" --access-key uni1-test-ak --secret-key uni1-test-sk "$dir" >"$dir.log" 2>&1 &
  S3_PID=$!
  for _ in $(seq 40); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.25; done
  curl -s -o /dev/null "http://127.0.0.1:$port/" || { cat "$dir.log"; echo "s3s-fs did not start"; return 1; }
  export UNI1_TEST_S3_ENDPOINT="http://127.0.0.1:$port" UNI1_TEST_S3_BUCKET=uni1-test \
    UNI1_TEST_S3_ACCESS_KEY=uni1-test-ak UNI1_TEST_S3_SECRET_KEY=uni1-test-sk UNI1_REQUIRE_S3=1
  echo "s3s-fs: $UNI1_TEST_S3_ENDPOINT (bucket uni1-test)"
}
# localstripe: a Stripe API emulator (PyPI, installed by setup) with
# subscriptions and signed webhooks; its own CLI binds every interface, so it
# is started on loopback through its aiohttp app.
start_localstripe() {
  local port log
  port=$(free_port); log=$(mktemp)
  "$HOME/.cache/uni1/localstripe-1.15.10/bin/python" -c \
    "from localstripe.server import app; from aiohttp import web; web.run_app(app, host='127.0.0.1', port=$port)" >"$log" 2>&1 &
  LOCALSTRIPE_PID=$!
  for _ in $(seq 40); do curl -s -o /dev/null "http://127.0.0.1:$port/v1/customers" && break; sleep 0.25; done
  curl -s -o /dev/null "http://127.0.0.1:$port/v1/customers" || { cat "$log"; echo "localstripe did not start"; return 1; }
  export UNI1_TEST_LOCALSTRIPE_URL="http://127.0.0.1:$port"
  echo "localstripe: $UNI1_TEST_LOCALSTRIPE_URL"
}
MAILDEV_PID=""
OIDC_PID=""
S3_PID=""
LOCALSTRIPE_PID=""
trap 'for p in $MAILDEV_PID $OIDC_PID $S3_PID $LOCALSTRIPE_PID; do kill "$p" 2>/dev/null; done; true' EXIT

browser_tests() {
  local port data log pid fake_port fake_pid
  port=$E2E_PORT
  data=$(mktemp -d)
  log="$data/server.log"
  # Payments: the project's Stripe fake, a credit pack and a plan it sells.
  fake_port=$(free_port)
  "$TARGET_DIR/debug/uni1" payment-fake --listen "127.0.0.1:$fake_port" \
    --webhook-url "http://127.0.0.1:$port/hooks/stripe" --price price_starter=500:usd --price price_monthly=1000:usd:month >"$data/payment-fake.log" 2>&1 &
  fake_pid=$!
  printf '[[packs]]\nid = "starter"\nname = "Starter"\ncredits = 100\nprice = 500\ncurrency = "usd"\nstripe_price = "price_starter"\n\n[[plans]]\nid = "monthly"\nname = "Monthly"\ncredits = 300\nprice = 1000\ncurrency = "usd"\ninterval = "month"\nstripe_price = "price_monthly"\n' >"$data/uni1.toml"
  # X-Forwarded-For is trusted so that each browser test is its own visitor
  # for the per-address rate limits (end2end/tests/fixtures.ts). Trusting it
  # turns the default /dev/outbox off, so the tests ask for it (they read
  # confirmation links there; the server listens on loopback only).
  UNI1_DATA_DIR="$data" UNI1_OPERATOR_NAME="uni1 test operator" UNI1_TRUST_PROXY_HEADERS=true UNI1_DEV_OUTBOX=true \
    UNI1_GOOGLE_CLIENT_ID=uni1-google UNI1_GOOGLE_CLIENT_SECRET=google-test-secret \
    UNI1_GOOGLE_ISSUER="$UNI1_TEST_OIDC_ISSUER" \
    UNI1_GITHUB_CLIENT_ID=uni1-github UNI1_GITHUB_CLIENT_SECRET=github-test-secret \
    UNI1_GITHUB_AUTHORIZE_URL="$UNI1_TEST_OIDC_ISSUER/auth" UNI1_GITHUB_TOKEN_URL="$UNI1_TEST_OIDC_ISSUER/token" \
    UNI1_GITHUB_API_URL="$UNI1_TEST_OIDC_ISSUER/github" \
    UNI1_STRIPE_SECRET_KEY=sk_test_uni1_payment_fake UNI1_STRIPE_WEBHOOK_SECRET=whsec_uni1_payment_fake \
    UNI1_STRIPE_API_URL="http://127.0.0.1:$fake_port" UNI1_BLOCKED_TERMS=uni1forbidden \
    "$TARGET_DIR/debug/uni1" --config "$data/uni1.toml" serve --listen "127.0.0.1:$port" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 60); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.5
  done
  local rc=0
  # The staff test makes an account admin with `uni1 admin set-role` on
  # the same database.
  UNI1_E2E_BASE_URL="http://127.0.0.1:$port" UNI1_E2E_BIN="$TARGET_DIR/debug/uni1" UNI1_E2E_DATA_DIR="$data" \
    npx playwright test -c end2end/playwright.config.ts || rc=$?
  kill "$pid" "$fake_pid" 2>/dev/null || true
  wait "$pid" "$fake_pid" 2>/dev/null || true
  if [[ $rc -ne 0 ]]; then
    echo "--- server log ---"; tail -n 50 "$log"
    echo "--- payment fake log ---"; tail -n 20 "$data/payment-fake.log"
    return "$rc"
  fi
  rm -rf "$data"
}

step "format" cargo fmt --all -- --check
CRATES=(-p uni1-server -p uni1-domain -p uni1-migration -p uni1-app -p uni1-imaging -p uni1-models -p uni1-model-server -p uni1-storage -p uni1-payments -p uni1-payment-fake)
step "clippy: server side" cargo clippy --locked "${CRATES[@]}" \
  --features uni1-app/ssr --all-targets -- -D warnings
step "clippy: browser side (wasm32)" cargo clippy --locked -p uni1-frontend -p uni1-app \
  --features uni1-app/hydrate --target wasm32-unknown-unknown -- -D warnings
step "architecture rules" scripts/check-architecture.sh
step "postgresql" ensure_postgres
step "test peers: maildev" start_maildev
step "test peers: OpenID provider" start_oidc_provider
step "test peers: S3 (s3s-fs)" start_s3
step "test peers: localstripe" start_localstripe
# The pinned official OpenAI Python client (installed by setup), run by
# the developer API's conformance test.
export UNI1_TEST_OPENAI_PYTHON="$HOME/.cache/uni1/openai-3.51.0/bin/python"
# The pinned official Replicate Python client, for the predictions test.
export UNI1_TEST_REPLICATE_PYTHON="$HOME/.cache/uni1/replicate-1.0.7/bin/python"
# One test at a time: the HTTP tests share two cores with the worker
# processes some of them start, and with PostgreSQL. In parallel runs a rare
# 30 s stall (a 408 from the request timeout) on PostgreSQL share and public
# pages was seen 3 times in about 15 full runs and never in targeted runs;
# running tests one by one keeps them from disturbing each other (about
# 80 s instead of 45 s). The stall itself is still being investigated.
step "unit and HTTP tests (SQLite and PostgreSQL)" cargo test --locked "${CRATES[@]}" -- --test-threads=1
step "build the site (split WASM, hashed names, precompressed)" scripts/build-site.sh
step "browser tests (Chromium, desktop and phone)" browser_tests
printf '\n\033[1;32mAll checks passed in %ss.\033[0m\n' "$(( $(date +%s) - START ))"
