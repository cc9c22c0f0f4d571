# Sourced by scripts/test.sh and scripts/dev-test.sh: the settings of a test stack. Ports come from
# TEST_PORT_BASE (default 8100: DynamoDB +0, SES +5, cargo lambda watch +10, moto +15), so two test
# runs can share a machine.
set -a; . scripts/local.env; set +a
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
