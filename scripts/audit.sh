#!/usr/bin/env bash
# make audit: cargo-audit against Cargo.lock, offline, with the vendored RustSec advisory
# database (audit/advisory-db.tar.gz; see audit/README.md for why and how to refresh it).
#   scripts/audit.sh                        install the pinned cargo-audit if missing, then audit
#   scripts/audit.sh --refresh-db CHECKOUT  replace the snapshot from a git checkout of the database
#   scripts/audit.sh --live                 audit against the live database (CI: it can reach GitHub)
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_AUDIT_VERSION=0.22.2
TOOL_ROOT=$PWD/.tools/cargo-audit
DB=$PWD/.tools/advisory-db
SNAPSHOT=audit/advisory-db.tar.gz

say() { printf '==> %s\n' "$*"; }

if [ "${1:-}" = "--refresh-db" ]; then
  checkout=${2:?usage: $0 --refresh-db PATH-TO-ADVISORY-DB-CHECKOUT}
  git -C "$checkout" archive --format=tar --prefix=advisory-db/ HEAD crates rust LICENSE.txt README.md \
    | gzip -9n >"$SNAPSHOT"
  git -C "$checkout" log -1 --format='%H %cI' >audit/advisory-db.commit
  say "snapshot replaced: $(cat audit/advisory-db.commit); commit $SNAPSHOT and audit/advisory-db.commit"
  exit 0
fi

if [ "$("$TOOL_ROOT/bin/cargo-audit" audit --version 2>/dev/null || true)" != "cargo-audit-audit $CARGO_AUDIT_VERSION" ]; then
  say "installing cargo-audit $CARGO_AUDIT_VERSION into .tools/cargo-audit (compiles it once: several minutes)"
  cargo install --locked --quiet --root "$TOOL_ROOT" --version "$CARGO_AUDIT_VERSION" cargo-audit
fi

# The deploy pipeline reaches GitHub: there the snapshot's age is no excuse, so it fetches the
# database as published now.
if [ "${1:-}" = "--live" ]; then
  say "cargo audit (Cargo.lock) against the live RustSec advisory database"
  exec "$TOOL_ROOT/bin/cargo-audit" audit --deny warnings
fi

# Unpack the snapshot again whenever it changed.
stamp=$(sha256sum "$SNAPSHOT" | cut -d' ' -f1)
if [ "$(cat "$DB.stamp" 2>/dev/null || true)" != "$stamp" ]; then
  rm -rf "$DB"
  mkdir -p "$DB"
  tar -xzf "$SNAPSHOT" -C "$DB" --strip-components=1
  echo "$stamp" >"$DB.stamp"
fi

read -r commit committed <audit/advisory-db.commit
age_days=$(( ($(date +%s) - $(date -d "$committed" +%s)) / 86400 ))
say "advisory database snapshot ${commit:0:12} of ${committed%%T*} ($age_days days old)"
if [ "$age_days" -gt 30 ]; then
  echo "warning: the snapshot is $age_days days old: advisories published since are not checked (audit/README.md: refresh it)" >&2
fi

say "cargo audit --no-fetch (Cargo.lock)"
"$TOOL_ROOT/bin/cargo-audit" audit --no-fetch --db "$DB" --deny warnings
