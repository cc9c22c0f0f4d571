# The environment of the bench's stack and of the functions it runs, sourced by scripts/bench.sh
# and scripts/profile.sh (from the repository root, ROOT set) so both drive the functions alike.
set -a; . scripts/local.env; set +a
BENCH_PORT_BASE=${BENCH_PORT_BASE:-8600}
export STACK_NAME=bench DYNAMODB_PORT=$BENCH_PORT_BASE SES_PORT=$((BENCH_PORT_BASE + 5))
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$SES_PORT
export SES_STORE_URL=http://127.0.0.1:$SES_PORT
# moto's server (the local SQS and STS) on +15: reset-admin, which creates the bench's users,
# records the caller from STS GetCallerIdentity and refuses to write without it.
export MOTO_PORT=$((BENCH_PORT_BASE + 15))
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$MOTO_PORT AWS_ENDPOINT_URL_STS=http://127.0.0.1:$MOTO_PORT
# The queues request-reset and change-password write and send-mail is fed from (moto's URLs).
export MAIL_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/$MAIL_QUEUE_NAME
export MAIL_DEAD_LETTER_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/$MAIL_DEAD_LETTER_QUEUE_NAME
# and CloudWatch Logs, where reset-admin writes its metrics (EMF lines, PutLogEvents).
export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://127.0.0.1:$MOTO_PORT
# Every bench request comes from one client IP and asks for a few hundred links: lift the limits
# (the counters are still read and written, as in production).
export RATE_LIMIT_PER_IP_PER_HOUR=10000000 RATE_LIMIT_PER_USERNAME_PER_HOUR=10000000
export RESET_MAILS_PER_USERNAME_PER_DAY=86400000
export PATH=$ROOT/.tools/venv/bin:$PATH
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
