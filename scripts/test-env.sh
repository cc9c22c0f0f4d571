# Sourced by scripts/test.sh and scripts/dev-test.sh: the settings of a test stack. Ports come from
# TEST_PORT_BASE (default 8100: DynamoDB +0, SES +5, cargo lambda watch +10, moto +15), so two test
# runs can share a machine; the stack's state lives in .local/<TEST_STACK_PREFIX, default test-><base>/.
set -a; . scripts/local.env; set +a
TEST_PORT_BASE=${TEST_PORT_BASE:-8100}
export STACK_NAME=${TEST_STACK_PREFIX:-test-}$TEST_PORT_BASE DYNAMODB_PORT=$TEST_PORT_BASE SES_PORT=$((TEST_PORT_BASE + 5)) WATCH_PORT=$((TEST_PORT_BASE + 10))
export MOTO_PORT=$((TEST_PORT_BASE + 15))
. scripts/lib.sh
export_local_endpoints
export PUBLIC_BASE_URL=http://127.0.0.1:$WATCH_PORT
export SIGN_IN_URL=http://127.0.0.1:$WATCH_PORT/sign-in
# Every HTTP test comes from 127.0.0.1: the limits are crossed by dedicated tests with their own settings.
export RATE_LIMIT_PER_IP_PER_HOUR=100000 RATE_LIMIT_PER_USERNAME_PER_HOUR=100000 RATE_LIMIT_PER_USERNAME_AND_CLIENT_PER_HOUR=100000
export ADDRESS_REQUESTS_PER_CLIENT_PER_HOUR=100000 ADDRESS_REQUESTS_PER_USERNAME_PER_DAY=100000
# The breached-password check asks a local range server on a port of this stack. Only
# tests/api/breached_passwords.rs listens there, for the moments it needs one; otherwise the port
# refuses and every change fails open (counted), which that test proves too.
export BREACH_RANGE_PORT=$((TEST_PORT_BASE + 12))
export BREACHED_PASSWORD_CHECK=on BREACHED_PASSWORD_API_URL=http://127.0.0.1:$BREACH_RANGE_PORT
# A reset-mail turn every millisecond and no cap on confirmation mails: the tests that cross them
# set their own. (IPv6 /48 budgets: every local request comes from 127.0.0.1.)
export RESET_MAILS_PER_USERNAME_PER_DAY=86400000 ADDRESS_CONFIRMATIONS_PER_HOUR=100000 ADDRESS_CONFIRMATIONS_PER_DAY=100000
# The timing floor is proven by its own test and benchmark; elsewhere it would only slow the suite.
export REQUEST_MIN_RESPONSE_MS=0
export WATCH_URL=http://127.0.0.1:$WATCH_PORT
# The pinned Node.js (.node-version) when scripts/bootstrap.sh had to install it, and the Python tools.
export PATH=$PWD/.tools/node/bin:$PWD/.tools/venv/bin:$PATH
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
