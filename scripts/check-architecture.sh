#!/usr/bin/env bash
# Rules of the layout that the compiler does not enforce (ARCHITECTURE.md,
# "Rules the build checks"):
# 1. the domain's normal dependency tree has no web framework (axum);
# 2. no SeaORM query outside the domain: the web crates (server, app) hold
#    a connection handle and call domain services; only server/src/db.rs
#    (connect and migrate) talks to SeaORM itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
failed=0

if cargo tree --locked -p uni1-domain -e normal --prefix none | grep -E '^axum ' >/dev/null; then
    echo "uni1-domain depends on axum (cargo tree -p uni1-domain -e normal -i axum):" >&2
    cargo tree --locked -p uni1-domain -e normal -i axum >&2 || true
    failed=1
fi

pattern='EntityTrait|QueryFilter|QueryOrder|QuerySelect|ColumnTrait|ActiveModelTrait|ConnectionTrait|TransactionTrait|ActiveValue|entities::|Statement::'
if hits=$(grep -rnE "$pattern" server/src app/src --include='*.rs' | grep -v '^server/src/db\.rs:'); then
    echo "SeaORM queries outside the domain (move them into a domain service):" >&2
    echo "$hits" >&2
    failed=1
fi

if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "architecture rules hold: no axum under uni1-domain, no SeaORM queries in server/ or app/"
