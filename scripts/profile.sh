#!/usr/bin/env bash
# make profile: where each function's CPU goes under the bench's load. Builds the functions with
# the `profiling` profile (the release build with its symbols), runs `lambda-bench run` (the
# Runtime API harness of make bench, fewer users) under `perf record --call-graph dwarf`, and
# folds the samples per function binary into .local/profile/<binary>.folded, a summary
# (.local/profile/summary.txt: top frames by self time, share of each layer of an SDK call) and,
# when inferno is on PATH, a flame graph per function (<binary>.svg). Timing figures of a
# profiled run mean nothing (perf's own cost); make bench measures.
#
# Needs perf (Debian: linux-perf) with kernel.perf_event_paranoid ≤ 1 for the processes'
# samples and -1 for kernel frames (root: sysctl kernel.perf_event_paranoid=-1).
# Knobs: PROFILE_BIN_DIR=DIR profiles the binaries in DIR (the four functions, hello-lambda and
# lambda-bench of an earlier profiling build, say of another commit) instead of building;
# PROFILE_USERS=150, PROFILE_FREQ=1999 (Hz), BENCH_PORT_BASE=8600 (as make bench; do not
# run both at once on the same ports).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/bench-env.sh
export STACK_NAME=profile-stack
OUT=$ROOT/.local/profile
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
FUNCTIONS=(request-reset verify-token change-password send-mail)
BIN=${PROFILE_BIN_DIR:-$TARGET/profiling}

say() { printf '\n==> %s\n' "$*"; }
command -v perf >/dev/null || { echo "error: perf not found (Debian: apt-get install linux-perf)" >&2; exit 1; }

scripts/bootstrap.sh
mkdir -p "$OUT"
rm -rf "$OUT/logs" "$OUT"/*.folded "$OUT"/*.svg
if [ -z "${PROFILE_BIN_DIR:-}" ]; then
  say "building the functions and the harness with the profiling profile (release + symbols)"
  cargo build --profile profiling "${FUNCTIONS[@]/#/-p}" -p reset-bench --bins
fi
cargo build --bin reset-admin

cleanup() { trap - EXIT INT TERM; scripts/stack.sh down; }
trap cleanup EXIT INT TERM
say "starting the profile stack (DynamoDB Local :$DYNAMODB_PORT, SES emulator :$SES_PORT, moto :$MOTO_PORT)"
scripts/stack.sh up

say "perf record over lambda-bench run (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
# DWARF unwinding: the standard library and the SDKs are built without frame pointers.
perf record -F "${PROFILE_FREQ:-1999}" --call-graph dwarf,16384 -o "$OUT/perf.data" -- \
  "$BIN/lambda-bench" run --bin-dir "$BIN" --floor-binary "$BIN/hello-lambda" --admin "$TARGET/debug/reset-admin" \
  --logs-dir "$OUT/logs" --out "$OUT/runtime.json" --cold-starts 2 --users "${PROFILE_USERS:-150}" --floor-check-requests 0
cleanup

say "folding the samples per function"
perf script --no-inline -i "$OUT/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null |
  python3 scripts/profile-fold.py "$OUT" "${FUNCTIONS[@]}" hello-lambda | tee "$OUT/summary.txt"
if command -v inferno-flamegraph >/dev/null; then
  for f in "${FUNCTIONS[@]}" hello-lambda; do
    [ -s "$OUT/$f.folded" ] && inferno-flamegraph --title "$f" <"$OUT/$f.folded" >"$OUT/$f.svg"
  done
  say "flame graphs: $OUT/*.svg"
fi
say "summary: $OUT/summary.txt"
