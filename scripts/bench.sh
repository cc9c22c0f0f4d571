#!/usr/bin/env bash
# make bench: cold start, footprint and CPU per request of the three HTTP functions and of
# send-mail (fed the jobs they queue, from moto's SQS), next to a hello-world lambda_http floor
# measured in the same run; a wave of reset requests delivered at a set SES rate; criterion
# micro-benchmarks; arm64 zip sizes. Prints one table, writes bench/results/latest.json
# (+ latest.md) and the wave's table into docs/performance.md, exits 3 with a banner when a
# figure is more than 20 % worse than the committed bench/results/baseline.json, and 4 when
# the wave lost or doubled a mail or went over its rate.
#
# Everything is built first, then measured, so the run does not compete with its own compiles.
# Knobs (environment):
#   BENCH_COLD_STARTS=20   cold starts per function
#   BENCH_USERS=300        users of the warm run (each: one reset link, two confirms, one change)
#   BENCH_SKIP_ZIPS=1      skip the arm64 zip build (sizes then missing from the table)
#   BENCH_SKIP_MICRO=1     skip the criterion micro-benchmarks
#   BENCH_WAVE_REQUESTS=1000  the wave: this many users each ask for a reset at once
#   BENCH_WAVE_RATE=14     the wave's SES rate (send-mail's SES_MAX_SEND_RATE, mails/s; 14 is a
#                          new production account's)
#   BENCH_WAVE_INSTANCES=64   request-reset instances taking the wave's requests at once
#   BENCH_SKIP_WAVE=1      no wave (its table then missing from the report)
#   BENCH_BIN_DIR=DIR      measure the function binaries in DIR (built elsewhere: another commit
#                          or profile) instead of building them; the floor is still built here;
#                          BENCH_BIN_LABEL names them in the report (instead of the commit)
#   BENCH_ALLOW_REGRESSION=1  report a regression but exit 0 (a failed wave still fails)
#   BENCH_UPDATE_BASELINE=1   copy the new latest.json over baseline.json (commit it yourself)
#   BENCH_PORT_BASE=8600   DynamoDB Local on it, the SES emulator on +5, moto on +15
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/bench-env.sh
OUT=$ROOT/.local/bench
RESULTS=$ROOT/bench/results
# Cargo's output folder (CARGO_TARGET_DIR moves it).
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
FUNCTIONS=(request-reset verify-token change-password send-mail)

say() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

scripts/bootstrap.sh
mkdir -p "$OUT" "$RESULTS"
# The commit the binaries are built from (taken before building: others may commit meanwhile).
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- functions Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+changes"
rm -rf "$OUT/logs" "$OUT/runtime.json"

BIN_DIR=${BENCH_BIN_DIR:-$TARGET/release}
if [ -n "${BENCH_BIN_DIR:-}" ]; then
  say "measuring the function binaries in $BENCH_BIN_DIR (BENCH_BIN_DIR; not built here)"
  commit=${BENCH_BIN_LABEL:-"binaries from $BENCH_BIN_DIR"}
else
  say "building the release functions as shipped (cargo build --release, ${FUNCTIONS[*]})"
  cargo build --release "${FUNCTIONS[@]/#/-p}"
fi
say "building the bench driver and the hello-world floor (release)"
cargo build --release -p reset-bench --bins
say "building the admin tool that creates the bench's users"
cargo build --bin reset-admin
if [ "${BENCH_SKIP_MICRO:-}" != 1 ]; then
  say "building the criterion micro-benchmarks"
  cargo bench -p reset-bench --bench domain --no-run
fi

zip_args=()
if [ "${BENCH_SKIP_ZIPS:-}" != 1 ]; then
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    say "adding the Rust standard library for aarch64-unknown-linux-gnu (rustup)"
    rustup target add aarch64-unknown-linux-gnu
  fi
  say "building the arm64 release zips (cargo lambda build --release --arm64 --output-format zip)"
  cargo lambda build --release --arm64 --output-format zip --lambda-dir "$OUT/lambda" "${FUNCTIONS[@]/#/--bin=}"
  for f in "${FUNCTIONS[@]}"; do
    zip_args+=(--zip "$f=$OUT/lambda/$f/bootstrap.zip")
    printf '    %-16s %8d bytes\n' "$f" "$(stat -c %s "$OUT/lambda/$f/bootstrap.zip")"
  done
fi

cleanup() { trap - EXIT INT TERM; scripts/stack.sh down; }
trap cleanup EXIT INT TERM
say "starting the bench stack (DynamoDB Local :$DYNAMODB_PORT, SES emulator :$SES_PORT, moto's SQS/STS :$MOTO_PORT)"
scripts/stack.sh up

wave_requests=${BENCH_WAVE_REQUESTS:-1000}
if [ "${BENCH_SKIP_WAVE:-}" = 1 ]; then wave_requests=0; fi
say "cold starts and warm runs through the local Lambda Runtime API (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
"$TARGET/release/lambda-bench" run --bin-dir "$BIN_DIR" --floor-binary "$TARGET/release/hello-lambda" --admin "$TARGET/debug/reset-admin" --logs-dir "$OUT/logs" --out "$OUT/runtime.json" \
  --cold-starts "${BENCH_COLD_STARTS:-20}" --users "${BENCH_USERS:-300}" \
  --wave-requests "$wave_requests" --wave-rate "${BENCH_WAVE_RATE:-14}" --wave-request-instances "${BENCH_WAVE_INSTANCES:-64}"
cleanup

if [ "${BENCH_SKIP_MICRO:-}" != 1 ]; then
  say "criterion micro-benchmarks"
  rm -rf "$TARGET/criterion"
  cargo bench -p reset-bench --bench domain -- --warm-up-time 1 --measurement-time 3
fi

say "report"
status=0
"$TARGET/release/lambda-bench" report --runtime "$OUT/runtime.json" --criterion-dir "$TARGET/criterion" "${zip_args[@]}" \
  --git-commit "$commit" --rustc "$(rustc -V)" --generated-at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --out "$RESULTS/latest.json" --markdown "$RESULTS/latest.md" --baseline "$RESULTS/baseline.json" \
  --docs "$ROOT/docs/performance.md" || status=$?

if [ "${BENCH_UPDATE_BASELINE:-}" = 1 ]; then
  cp "$RESULTS/latest.json" "$RESULTS/baseline.json"
  say "bench/results/baseline.json replaced by this run (commit it)"
  [ "$status" = 3 ] && status=0
fi
say "make bench took $(( $(date +%s) - started )) s"
if [ "$status" = 3 ] && [ "${BENCH_ALLOW_REGRESSION:-}" = 1 ]; then
  echo "(BENCH_ALLOW_REGRESSION=1: exiting 0 despite the regression above)"
  status=0
fi
exit "$status"
