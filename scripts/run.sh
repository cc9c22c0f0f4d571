#!/usr/bin/env bash
# make run: the whole service on this machine. Installs what is missing, starts DynamoDB Local,
# the SES v2 emulator and moto's SQS, creates the tables and queues, seeds the demo user, serves
# the functions behind one origin with `cargo lambda watch`, and delivers the mail queue to
# send-mail as Lambda's event source mapping would. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . scripts/local.env; set +a
export STACK_NAME=run
# The pinned Node.js (.node-version) when scripts/bootstrap.sh had to install it, and cargo-lambda.
export PATH=$PWD/.tools/node/bin:$PWD/.tools/venv/bin:$PATH

# Each step with the time since make run started.
RUN_STARTED=$(date +%s)
say() { local t=$(( $(date +%s) - RUN_STARTED )); printf '==> [%d:%02d] %s\n' $((t / 60)) $((t % 60)) "$*"; }
. scripts/lib.sh
export_local_endpoints

scripts/bootstrap.sh check
mkdir -p .local/run
TRIGGER_PID=
WATCH_PID=
BOOTSTRAP_PID=
stop_all() {
  if [ -n "$BOOTSTRAP_PID" ]; then kill -- -"$BOOTSTRAP_PID" 2>/dev/null || true; fi
  stop_local_stack
}
trap stop_all EXIT INT TERM

# The installs wait on the network and the disk, the build on the CPU: side by side. The installs'
# lines go to a log, shown when the build is done, so that cargo's progress stays readable.
say "installing what make run needs (Node.js, the emulators, cargo-lambda) in the background: .local/run/bootstrap.log"
# In a session of its own, so that the clean-up can end it with every install it started.
setsid scripts/bootstrap.sh run >.local/run/bootstrap.log 2>&1 &
BOOTSTRAP_PID=$!

# cargo lambda watch starts each function with `cargo run --bin NAME`, which selects the default
# members, reset-admin among them; one `cargo build --bin …` of all of them selects the same
# packages, so every shared crate compiles once (a `cargo build -p …` would unify features
# differently and compile them again) and the first start under watch compiles nothing.
say "building reset-admin and the functions in one cargo invocation, as cargo lambda watch runs them (the first build takes a few minutes)"
cargo build --bin reset-admin --bin request-reset --bin verify-token --bin change-password --bin send-mail \
  --bin address-change --bin mail-events --bin local-sign-in
export RESET_ADMIN_BIN=$PWD/target/debug/reset-admin

say "waiting for the installs"
status=0
with_heartbeat "installing" wait "$BOOTSTRAP_PID" || status=$?
BOOTSTRAP_PID=
sed 's/^/    /' .local/run/bootstrap.log
if [ "$status" != 0 ]; then
  echo "error: installing the tools failed (above, and .local/run/bootstrap.log)" >&2
  exit 1
fi

scripts/stack.sh up

say "seeding the demo user ex000000 <ex000000@example.jp>"
seed_output=$(with_heartbeat "seeding" scripts/admin user create ex000000 --email ex000000@example.jp --if-missing)
echo "$seed_output"


say "delivering the mail queue to send-mail (local SQS event source mapping, concurrency $MAIL_SEND_CONCURRENCY)"
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
    make admin ARGS="user show ex000000"          (or scripts/admin user show ex000000)
    make admin ARGS="audit ex000000"
    make admin ARGS="address-requests list"

  Locally every client is 127.0.0.1 (cargo lambda watch's sourceIp), so all browsers share one
  per-client budget: $RATE_LIMIT_PER_IP_PER_HOUR requests an hour here (30 in the cloud by default).

  Ctrl-C stops everything.

INFO

wait "$WATCH_PID"
