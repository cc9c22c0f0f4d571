#!/usr/bin/env bash
# make test's second pass: the reset flow again with the accounts in a Cognito user pool
# (PASSWORD_STORE=cognito), on a local stack of its own (ports TEST_PORT_BASE+30…: DynamoDB
# Local, the SES emulator, moto with the pool and the queues, cargo lambda watch), torn down at
# the end. scripts/test.sh calls it after the first pass, with the functions already built.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . scripts/local.env; set +a
BASE=$(( ${TEST_PORT_BASE:-8100} + 30 ))
export PASSWORD_STORE=cognito
export STACK_NAME=test-cognito-$BASE DYNAMODB_PORT=$BASE SES_PORT=$((BASE + 5)) WATCH_PORT=$((BASE + 10)) MOTO_PORT=$((BASE + 15))
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$SES_PORT
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$MOTO_PORT AWS_ENDPOINT_URL_STS=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=http://127.0.0.1:$MOTO_PORT
export MAIL_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/$MAIL_QUEUE_NAME
export MAIL_DEAD_LETTER_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/$MAIL_DEAD_LETTER_QUEUE_NAME
export PUBLIC_BASE_URL=http://127.0.0.1:$WATCH_PORT SIGN_IN_URL=http://127.0.0.1:$WATCH_PORT/sign-in
export RATE_LIMIT_PER_IP_PER_HOUR=100000 RATE_LIMIT_PER_USERNAME_PER_HOUR=100000 RATE_LIMIT_PER_USERNAME_AND_CLIENT_PER_HOUR=100000
export RESET_MAILS_PER_USERNAME_PER_DAY=86400000
export REQUEST_MIN_RESPONSE_MS=0
export SES_STORE_URL=http://127.0.0.1:$SES_PORT WATCH_URL=http://127.0.0.1:$WATCH_PORT
STATE=.local/$STACK_NAME

say() { printf '\n==> %s\n' "$*"; }
. scripts/lib.sh

WATCH_PID=
TRIGGER_PID=
trap stop_local_stack EXIT INT TERM

say "Cognito store: starting its local stack (a user pool in moto)"
scripts/stack.sh up
set -a; . "$STATE/cognito.env"; set +a

say "Cognito store: serving the functions on 127.0.0.1:$WATCH_PORT"
start_watch "$STATE/watch.log" --concurrency 4
export WATCH_LOG=$PWD/$STATE/watch.log
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 600 -X POST -H 'content-type: application/json' \
  -d '{"Records":[]}' "$WATCH_URL/2015-03-31/functions/send-mail/invocations") || true
printf '    %-16s answered %s\n' send-mail "$code"
case "$code" in 2??) ;; *) echo "error: send-mail did not start on the pool; see $STATE/watch.log" >&2; exit 1 ;; esac

.tools/emulators/bin/python scripts/local_sqs_trigger.py run --invoke-url "$WATCH_URL" \
  --max-concurrency "$MAIL_SEND_CONCURRENCY" >"$STATE/sqs-trigger.log" 2>&1 &
TRIGGER_PID=$!
export SQS_TRIGGER_LOG=$PWD/$STATE/sqs-trigger.log

say "Cognito store: the reset flow tests, sign-in with the new password, sessions ended"
cargo test --quiet -p password-reset-tests --test api -- --include-ignored --test-threads 4 reset_flow:: cognito_store::
