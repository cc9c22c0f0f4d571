#!/usr/bin/env bash
# make test: lint, template checks, then every test against a local stack of its own
# (DynamoDB Local :8100, SES v2 emulator :8105, cargo lambda watch :8110, moto's SQS :8115 and
# the local stand-in for the SQS event source mapping), torn down at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/test-env.sh

# Each step with the time since make test started (TEST_STARTED, epoch seconds).
say() { local t=$(( $(date +%s) - TEST_STARTED )); printf '\n==> [%d:%02d] %s\n' $((t / 60)) $((t % 60)) "$*"; }
. scripts/lib.sh
export TEST_STARTED=${TEST_STARTED:-$(date +%s)}
# A fresh clone gains nothing from incremental compilation and it costs time and ~1.5 GB of
# target/debug/incremental; CI runs a fresh clone. (scripts/dev-test.sh keeps cargo's default.)
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
mkdir -p .local/test
export COUNTS_FILE=$PWD/.local/test/counts
: >"$COUNTS_FILE"

# The installs wait on the network and the disk, fmt and clippy on the CPU: side by side. The
# installs' lines go to a log, shown once clippy is done.
scripts/bootstrap.sh check
say "installing the pinned tools in the background while fmt and clippy run: .local/test/bootstrap.log"
# In a session of its own, so that the clean-up can end it with every install it started.
setsid scripts/bootstrap.sh >.local/test/bootstrap.log 2>&1 &
BOOTSTRAP_PID=$!
trap 'kill -- -"$BOOTSTRAP_PID" 2>/dev/null || true' EXIT INT TERM

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

say "waiting for the installs"
install_status=0
with_heartbeat "installing" wait "$BOOTSTRAP_PID" || install_status=$?
trap - EXIT INT TERM
sed 's/^/    /' .local/test/bootstrap.log
if [ "$install_status" != 0 ]; then
  echo "error: installing the tools failed (above, and .local/test/bootstrap.log)" >&2
  exit 1
fi

say "infrastructure checks"
scripts/check-infra.sh

WATCH_PID=
TRIGGER_PID=
trap stop_local_stack EXIT INT TERM

say "building the functions, reset-admin and the tests"
cargo build --workspace --all-targets
cargo test --workspace --no-run
# The stacks and the admin tests run this reset-admin: a `cargo run -p reset-admin` would select
# other packages, unify other features and compile the shared dependencies once more.
export RESET_ADMIN_BIN=$PWD/target/debug/reset-admin

say "starting the local stack"
scripts/stack.sh up

say "provisioning the running stack again creates nothing; scripts/admin finds the stack by itself"
scripts/stack.sh provision | tee .local/test/provision-again.out
if grep -E ': created$' .local/test/provision-again.out; then
  echo "error: a second provisioning created the resources above" >&2
  exit 1
fi
STACK_NAME=$STACK_NAME scripts/admin users check

say "serving the functions with cargo lambda watch on 127.0.0.1:$WATCH_PORT"
mkdir -p .local/test
: >.local/test/watch.log
start_test_watch .local/test/watch.log
export WATCH_LOG=$PWD/.local/test/watch.log

# cargo lambda watch starts each function on its first invocation; do that now, once, so no test
# waits on a start. The test build built them all, with the same features: nothing compiles here.
say "warming up the seven functions under cargo lambda watch (six deployed, the local sign-in page): nothing compiles"
warm_functions "$WATCH_URL" || { echo "error: a function did not start; see .local/test/watch.log" >&2; exit 1; }
watch_compiled_nothing .local/test/watch.log

# Once started, every function answers within a second (what a person meets after make run's
# "ready"): a timed second call of each.
say "every function answers within a second once started"
timed() { # name, then curl arguments
  local name=$1; shift
  local seconds
  seconds=$(curl -s -o /dev/null -w '%{time_total}' --max-time 10 "$@") || seconds=99
  printf '    %-16s %s s\n' "$name" "$seconds"
  awk -v s="$seconds" 'BEGIN { exit !(s < 1.0) }' || { echo "error: $name took $seconds s after its start" >&2; exit 1; }
}
timed request-reset "$WATCH_URL/password-reset"
timed verify-token "$WATCH_URL/password-reset/confirm?token=warm-up"
timed change-password -X POST -H 'content-type: application/json' -d '{}' "$WATCH_URL/api/password-reset/complete"
timed send-mail -X POST -H 'content-type: application/json' -d '{"Records":[]}' \
  "$WATCH_URL/2015-03-31/functions/send-mail/invocations"

# The mail queue's event source mapping, played locally: batches from moto's SQS to send-mail
# under cargo lambda watch, at most MAIL_SEND_CONCURRENCY at once (the template's default, 2).
say "delivering the mail queue to send-mail (local SQS event source mapping, concurrency $MAIL_SEND_CONCURRENCY)"
export SQS_TRIGGER_STATE=$PWD/.local/test/sqs-trigger.state.json
.tools/emulators/bin/python scripts/local_sqs_trigger.py run --invoke-url "$WATCH_URL" \
  --max-concurrency "$MAIL_SEND_CONCURRENCY" --state-file "$SQS_TRIGGER_STATE" >.local/test/sqs-trigger.log 2>&1 &
TRIGGER_PID=$!
export SQS_TRIGGER_LOG=$PWD/.local/test/sqs-trigger.log

say "running the tests"
# The integration tests are one binary (tests/api); its `disruptive` module stops and freezes the
# SES emulator every other test mails through, so it runs alone, after the rest. Both runs go
# through whatever fails in the first, and the step fails if either did.
tests_failed=0
cargo_test_pass workspace --workspace --no-fail-fast -- --test-threads 4 --skip disruptive:: || tests_failed=1
say "running the tests that stop or freeze the SES emulator, alone"
# --workspace (the same selection as the build above), not -p password-reset-tests: a -p selection
# unifies features differently and compiled the test binary's graph again (150 s on a fresh clone).
cargo_test_pass disruptive --workspace --test api --no-fail-fast -- --test-threads 4 disruptive:: || tests_failed=1
[ "$tests_failed" = 0 ] || { echo "error: tests failed (see above)" >&2; exit 1; }

say "fuzzing the JSON API from docs/openapi.yaml (schemathesis): no 5xx, no schema violation"
SCHEMATHESIS_HOOKS=tests.fuzz.hooks PYTHONPATH=$PWD st run docs/openapi.yaml --url "$WATCH_URL" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples 60 --seed 20261125 --request-timeout 20 --warnings off | tee .local/test/schemathesis.out
record_count schemathesis "$(schemathesis_cases .local/test/schemathesis.out)" "generated requests"

# Run through bash, not the run bit: a lost executable bit must not skip the suite.
say "browser tests (headless Chromium)"
BROWSER_TAP=.local/test/browser.tap bash tests/browser/run.sh
record_count browser "$(awk '/^# pass / { print $3 }' .local/test/browser.tap)"

# make run's Ctrl-C stops cargo lambda watch with the same stop_watch: its log must end with the
# functions' own lines, not cargo-lambda's shutdown or the instances' lost connections.
say "stopping cargo lambda watch as make run's Ctrl-C does: no shutdown noise"
stop_watch
sleep 1
if grep -n -E 'Shutdown timed out|IncompleteMessage|MaxFilesWatch' .local/test/watch.log; then
  echo "error: cargo lambda watch's shutdown printed the lines above (.local/test/watch.log)" >&2
  exit 1
fi
echo "    the watch log ends without shutdown noise"

# The flow once more with the accounts in a Cognito user pool, on a stack of its own.
scripts/test-cognito.sh

say "tests run, pass by pass"
cat "$COUNTS_FILE"
say "all checks passed in $(( $(date +%s) - TEST_STARTED )) s"
