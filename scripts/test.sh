#!/usr/bin/env bash
# make test: lint, template checks, then every test against a local stack of its own
# (DynamoDB Local :8100, SES v2 emulator :8105, cargo lambda watch :8110, moto's SQS :8115 and
# the local stand-in for the SQS event source mapping), torn down at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . scripts/local.env; set +a
# TEST_PORT_BASE lets two test runs share a machine (default 8100: DynamoDB 8100, SES 8105,
# watch 8110, moto 8115).
TEST_PORT_BASE=${TEST_PORT_BASE:-8100}
export STACK_NAME=test-$TEST_PORT_BASE DYNAMODB_PORT=$TEST_PORT_BASE SES_PORT=$((TEST_PORT_BASE + 5)) WATCH_PORT=$((TEST_PORT_BASE + 10))
export MOTO_PORT=$((TEST_PORT_BASE + 15))
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$SES_PORT
# moto's server is the local SQS and STS (reset-admin records the caller from GetCallerIdentity).
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$MOTO_PORT AWS_ENDPOINT_URL_STS=http://127.0.0.1:$MOTO_PORT
# and CloudWatch Logs, where reset-admin writes its metrics (EMF lines, PutLogEvents).
export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://127.0.0.1:$MOTO_PORT
# The queue URLs as scripts/stack.sh creates them (moto's account id, the local names).
export MAIL_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/$MAIL_QUEUE_NAME
export MAIL_DEAD_LETTER_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/$MAIL_DEAD_LETTER_QUEUE_NAME
export PUBLIC_BASE_URL=http://127.0.0.1:$WATCH_PORT
export SIGN_IN_URL=http://127.0.0.1:$WATCH_PORT/sign-in
# Every HTTP test comes from 127.0.0.1: the limits are crossed by dedicated tests with their own settings.
export RATE_LIMIT_PER_IP_PER_HOUR=100000 RATE_LIMIT_PER_USERNAME_PER_HOUR=100000 RATE_LIMIT_PER_USERNAME_AND_CLIENT_PER_HOUR=100000
export ADDRESS_REQUESTS_PER_CLIENT_PER_HOUR=100000 ADDRESS_REQUESTS_PER_USERNAME_PER_DAY=100000
# A reset-mail turn every millisecond and no cap on confirmation mails: the tests that cross them
# set their own. (IPv6 /48 budgets: every local request comes from 127.0.0.1.)
export RESET_MAILS_PER_USERNAME_PER_DAY=86400000 ADDRESS_CONFIRMATIONS_PER_HOUR=100000 ADDRESS_CONFIRMATIONS_PER_DAY=100000
# The timing floor is proven by its own test and benchmark; elsewhere it would only slow the suite.
export REQUEST_MIN_RESPONSE_MS=0
export SES_STORE_URL=http://127.0.0.1:$SES_PORT WATCH_URL=http://127.0.0.1:$WATCH_PORT
export PATH=$PWD/.tools/venv/bin:$PATH
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

say() { printf '\n==> %s\n' "$*"; }
. scripts/lib.sh
started=$(date +%s)

scripts/bootstrap.sh

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

say "infrastructure checks"
scripts/check-infra.sh

WATCH_PID=
TRIGGER_PID=
trap stop_local_stack EXIT INT TERM

say "starting the local stack"
scripts/stack.sh up

say "building the functions and tests"
cargo build --workspace --all-targets
cargo test --workspace --no-run

say "serving the functions with cargo lambda watch on 127.0.0.1:$WATCH_PORT"
mkdir -p .local/test
: >.local/test/watch.log
start_watch .local/test/watch.log --concurrency 4
export WATCH_LOG=$PWD/.local/test/watch.log

# cargo lambda watch starts (and, on a fresh clone, compiles) each function on its first
# invocation; do that now, once, so no test waits on a compiler.
say "warming up the seven functions under cargo lambda watch (six deployed, the local sign-in page) (the first start may compile them)"
warm_functions "$WATCH_URL" || { echo "error: a function did not start; see .local/test/watch.log" >&2; exit 1; }

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
.tools/emulators/bin/python scripts/local_sqs_trigger.py run --invoke-url "$WATCH_URL" \
  --max-concurrency "$MAIL_SEND_CONCURRENCY" >.local/test/sqs-trigger.log 2>&1 &
TRIGGER_PID=$!
export SQS_TRIGGER_LOG=$PWD/.local/test/sqs-trigger.log

say "running the tests"
# The integration tests are one binary (tests/api); its `disruptive` module stops and freezes the
# SES emulator every other test mails through, so it runs alone, after the rest. Both runs go
# through whatever fails in the first, and the step fails if either did.
tests_failed=0
cargo test --workspace --no-fail-fast -- --test-threads 4 --skip disruptive:: || tests_failed=1
say "running the tests that stop or freeze the SES emulator, alone"
cargo test -p password-reset-tests --test api --no-fail-fast -- --test-threads 4 disruptive:: || tests_failed=1
[ "$tests_failed" = 0 ] || { echo "error: tests failed (see above)" >&2; exit 1; }

say "fuzzing the JSON API from docs/openapi.yaml (schemathesis): no 5xx, no schema violation"
SCHEMATHESIS_HOOKS=tests.fuzz.hooks PYTHONPATH=$PWD st run docs/openapi.yaml --url "$WATCH_URL" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples 60 --seed 20261125 --request-timeout 20 --warnings off

if [ -x tests/browser/run.sh ]; then
  say "browser tests (headless Chromium)"
  tests/browser/run.sh
fi

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

say "all checks passed in $(( $(date +%s) - started )) s"
