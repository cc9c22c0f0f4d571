#!/usr/bin/env bash
# make run: the whole service on this machine. Installs what is missing, starts DynamoDB Local,
# the SES v2 emulator and moto's SQS, creates the tables and queues, seeds the demo user, serves
# the functions behind one origin with `cargo lambda watch`, and delivers the mail queue to
# send-mail as Lambda's event source mapping would. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . scripts/local.env; set +a
export STACK_NAME=run
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$SES_PORT
# moto's server is the local SQS and STS (reset-admin records the caller from GetCallerIdentity).
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$MOTO_PORT AWS_ENDPOINT_URL_STS=http://127.0.0.1:$MOTO_PORT
# and CloudWatch Logs, where reset-admin writes its metrics (EMF lines, PutLogEvents).
export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://127.0.0.1:$MOTO_PORT
export MAIL_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/$MAIL_QUEUE_NAME
export MAIL_DEAD_LETTER_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/$MAIL_DEAD_LETTER_QUEUE_NAME
export PATH=$PWD/.tools/venv/bin:$PATH

say() { printf '==> %s\n' "$*"; }
. scripts/lib.sh

scripts/bootstrap.sh
TRIGGER_PID=
WATCH_PID=
trap stop_local_stack EXIT INT TERM

scripts/stack.sh up

# cargo lambda watch starts each function with `cargo run --bin NAME`; building the same way
# here means its first start compiles nothing (a `cargo build -p a -p b` unifies features
# differently and would leave that work to the first visit).
say "building the functions exactly as cargo lambda watch runs them (the first build takes a few minutes)"
for function in request-reset verify-token change-password send-mail address-change local-sign-in; do
  cargo build --bin "$function"
done

say "seeding the demo user ex000000 <ex000000@example.jp>"
seed_output=$(with_heartbeat "seeding" cargo run --quiet -p reset-admin -- user create ex000000 --email ex000000@example.jp --if-missing)
echo "$seed_output"


say "delivering the mail queue to send-mail (local SQS event source mapping, concurrency $MAIL_SEND_CONCURRENCY)"
mkdir -p .local/run
.tools/emulators/bin/python scripts/local_sqs_trigger.py run --invoke-url "http://127.0.0.1:$WATCH_PORT" \
  --max-concurrency "$MAIL_SEND_CONCURRENCY" >.local/run/sqs-trigger.log 2>&1 &
TRIGGER_PID=$!

say "starting cargo lambda watch on 127.0.0.1:$WATCH_PORT (its own log at warn; the functions' at info)"
start_watch /dev/stdout

# "Ready" means every function has answered once: nobody waits on a cold start.
say "starting each function once"
warm_functions "http://127.0.0.1:$WATCH_PORT" || echo "warning: a function did not start; see its lines above" >&2

say "ready"
cat <<INFO

  Password reset, running locally:
    Request page   http://127.0.0.1:$WATCH_PORT/password-reset       (English: ?lang=en)
    Mail received  http://127.0.0.1:$SES_PORT/                        (the SES v2 emulator's viewer)
    Sign in        http://127.0.0.1:$WATCH_PORT/sign-in                (local only: try the new password)
    Demo user      ex000000  ($(echo "$seed_output" | sed -n 's/^initial password: /initial password /p'))

  Administer the local users (docs/admin.md), in another terminal:
    set -a; . scripts/local.env; set +a; export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT \\
      AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$MOTO_PORT AWS_ENDPOINT_URL_STS=http://127.0.0.1:$MOTO_PORT \\
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://127.0.0.1:$MOTO_PORT \\
      MAIL_QUEUE_URL=$MAIL_QUEUE_URL MAIL_DEAD_LETTER_QUEUE_URL=$MAIL_DEAD_LETTER_QUEUE_URL
    cargo run -q -p reset-admin -- user show ex000000
    cargo run -q -p reset-admin -- user set-email ex000000 new@example.jp --reason "old address abolished"
    cargo run -q -p reset-admin -- audit ex000000
    cargo run -q -p reset-admin -- mail-problems
    cargo run -q -p reset-admin -- mail-queue
    cargo run -q -p reset-admin -- address-requests list

  Locally every client is 127.0.0.1 (cargo lambda watch's sourceIp), so all browsers share one
  per-client budget: $RATE_LIMIT_PER_IP_PER_HOUR requests an hour here (30 in the cloud by default).

  Ctrl-C stops everything.

INFO

wait "$WATCH_PID"
