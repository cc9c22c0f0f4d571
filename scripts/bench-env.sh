# The environment of the bench's stack and of the functions it runs, sourced by scripts/bench.sh
# and scripts/profile.sh (from the repository root, ROOT set) so both drive the functions alike.
set -a; . scripts/local.env; set +a
BENCH_PORT_BASE=${BENCH_PORT_BASE:-8600}
export STACK_NAME=bench DYNAMODB_PORT=$BENCH_PORT_BASE SES_PORT=$((BENCH_PORT_BASE + 5))
# moto's server (the local SQS, STS and CloudWatch Logs) on +15: reset-admin, which creates the
# bench's users, records the caller from STS GetCallerIdentity and refuses to write without it.
export MOTO_PORT=$((BENCH_PORT_BASE + 15))
# The endpoints and queue URLs, as every local script has them.
. scripts/local-endpoints.sh
# Every bench request comes from one client IP and asks for a few hundred links: lift the limits
# (the counters are still read and written, as in production).
export RATE_LIMIT_PER_IP_PER_HOUR=10000000 RATE_LIMIT_PER_USERNAME_PER_HOUR=10000000
export RESET_MAILS_PER_USERNAME_PER_DAY=86400000
export PATH=$ROOT/.tools/venv/bin:$PATH
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
