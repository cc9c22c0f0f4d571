#!/usr/bin/env bash
# make test's second pass: the reset flow again with the accounts in a Cognito user pool
# (PASSWORD_STORE=cognito), on a local stack of its own (ports TEST_PORT_BASE+30…: DynamoDB
# Local, the SES emulator, moto with the pool and the queues, cargo lambda watch), torn down at
# the end. scripts/test.sh calls it after the first pass, with the functions already built.
set -euo pipefail
cd "$(dirname "$0")/.."
# Its own ports (TEST_PORT_BASE+30) and stack; the rest as the first pass.
TEST_PORT_BASE=$(( ${TEST_PORT_BASE:-8100} + 30 ))
TEST_STACK_PREFIX=test-cognito-
. scripts/test-env.sh
export PASSWORD_STORE=cognito
STATE=.local/$STACK_NAME
TEST_STARTED=${TEST_STARTED:-$(date +%s)}

# Each step with the time since make test started (TEST_STARTED, epoch seconds).
say() { local t=$(( $(date +%s) - TEST_STARTED )); printf '\n==> [%d:%02d] %s\n' $((t / 60)) $((t % 60)) "$*"; }
. scripts/lib.sh

WATCH_PID=
TRIGGER_PID=
trap stop_local_stack EXIT INT TERM

say "Cognito store: starting its local stack (a user pool in moto)"
scripts/stack.sh up
set -a; . "$STATE/cognito.env"; set +a

say "Cognito store: serving the functions on 127.0.0.1:$WATCH_PORT"
: >"$STATE/watch.log"
start_test_watch "$STATE/watch.log"
export WATCH_LOG=$PWD/$STATE/watch.log
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 600 -X POST -H 'content-type: application/json' \
  -d '{"Records":[]}' "$WATCH_URL/2015-03-31/functions/send-mail/invocations") || true
printf '    %-16s answered %s\n' send-mail "$code"
case "$code" in 2??) ;; *) echo "error: send-mail did not start on the pool; see $STATE/watch.log" >&2; exit 1 ;; esac
watch_compiled_nothing "$STATE/watch.log"

export SQS_TRIGGER_STATE=$PWD/$STATE/sqs-trigger.state.json
.tools/emulators/bin/python scripts/local_sqs_trigger.py run --invoke-url "$WATCH_URL" \
  --max-concurrency "$MAIL_SEND_CONCURRENCY" --state-file "$SQS_TRIGGER_STATE" >"$STATE/sqs-trigger.log" 2>&1 &
TRIGGER_PID=$!
export SQS_TRIGGER_LOG=$PWD/$STATE/sqs-trigger.log

say "Cognito store: the reset flow tests, sign-in with the new password, sessions ended, a change that set the password always finishes, reset-admin on the pool, the pool operations recorded"
cargo_test_pass cognito --workspace --test api -- --include-ignored --test-threads 4 reset_flow:: cognito_store:: cognito_change:: admin_cognito:: iam_policies::cognito_pool_
