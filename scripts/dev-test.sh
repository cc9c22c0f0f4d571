#!/usr/bin/env bash
# The developer's loop: a local test stack (ports from TEST_PORT_BASE, as make test), the functions
# under cargo lambda watch and the local SQS trigger, then `cargo test` of the integration test
# binary with the given arguments, then everything stopped. No lint, no template checks, no
# browser or Cognito pass: make test runs those.
#   scripts/dev-test.sh address_requests::          the tests whose names hold the filter
#   scripts/dev-test.sh -- --exact abuse::x         arguments after -- go to the test binary as is
#   scripts/dev-test.sh --browser [FILE.test.mjs]  the browser suite (or one file of it) instead
# Run make test (or scripts/bootstrap.sh) once first: this installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/test-env.sh
say() { printf '\n==> %s\n' "$*"; }
. scripts/lib.sh
browser=
if [ "${1:-}" = --browser ]; then browser=1; shift; fi
[ "${1:-}" = -- ] && shift

WATCH_PID=
TRIGGER_PID=
trap stop_local_stack EXIT INT TERM

say "starting the local stack ($STACK_NAME)"
scripts/stack.sh up
say "building the functions and the tests"
cargo build --workspace --all-targets
mkdir -p ".local/$STACK_NAME"
log=$PWD/.local/$STACK_NAME/watch.log
: >"$log"
say "serving the functions on 127.0.0.1:$WATCH_PORT (log: $log)"
start_test_watch "$log"
export WATCH_LOG=$log
warm_functions "$WATCH_URL" || { echo "error: a function did not start; see $log" >&2; exit 1; }
export SQS_TRIGGER_STATE=$PWD/.local/$STACK_NAME/sqs-trigger.state.json
.tools/emulators/bin/python scripts/local_sqs_trigger.py run --invoke-url "$WATCH_URL" \
  --max-concurrency "$MAIL_SEND_CONCURRENCY" --state-file "$SQS_TRIGGER_STATE" >".local/$STACK_NAME/sqs-trigger.log" 2>&1 &
TRIGGER_PID=$!
export SQS_TRIGGER_LOG=$PWD/.local/$STACK_NAME/sqs-trigger.log
export RESET_ADMIN_BIN=$PWD/target/debug/reset-admin
if [ -n "$browser" ]; then
  say "browser tests ${*:-(every file)}"
  BROWSER_TAP=.local/$STACK_NAME/browser.tap bash tests/browser/run.sh "$@"
  exit
fi
say "cargo test --workspace --test api -- $*"
cargo test --workspace --test api -- --test-threads 4 "$@"
