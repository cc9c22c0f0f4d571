#!/usr/bin/env bash
# make zips: release arm64 bootstrap zips of every function, as Lambda takes them, with sizes.
# Uses cargo-lambda and zig from .tools/venv (installed by scripts/bootstrap.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH=$PWD/.tools/venv/bin:$PATH
functions=$(for f in functions/*/src/main.rs; do basename "$(dirname "$(dirname "$f")")"; done)
printf '==> cargo lambda build --release --arm64 --output-format zip (%s)\n' "$(echo $functions | tr ' ' ',')"
# By package (-p), not only by binary: features are unified across the selected packages, and
# a plain --bin selects the workspace's default members; -p keeps any other crate's features
# (the admin tool's SSO and credential_process code) out of the functions.
# shellcheck disable=SC2046
cargo lambda build --release --arm64 --output-format zip $(for f in $functions; do printf -- '-p %s --bin %s ' "$f" "$f"; done)
printf '\n%-18s %10s %10s\n' function "zip bytes" "zip MiB"
for f in $functions; do
  zip=target/lambda/$f/bootstrap.zip
  bytes=$(stat -c %s "$zip")
  awk -v f="$f" -v b="$bytes" 'BEGIN { printf "%-18s %10d %10.2f\n", f, b, b / 1048576 }'
done
