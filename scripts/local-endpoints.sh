# The local stack's endpoints, sourced (from the repository root) by every script that talks to
# it, once DYNAMODB_PORT, SES_PORT and MOTO_PORT are set: the SDK's standard endpoint variables,
# the queue URLs and the mail viewer. These are the only settings a local run adds to the
# template's. moto's server is the local SQS, STS (reset-admin records the caller), CloudWatch
# Logs (reset-admin's metrics) and Cognito (PASSWORD_STORE=cognito); the queue URLs carry moto's
# fixed account id and the local queue names of scripts/local.env.
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$SES_PORT
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_STS=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=http://127.0.0.1:$MOTO_PORT
export MAIL_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/${MAIL_QUEUE_NAME:-reset-mail}
export MAIL_DEAD_LETTER_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/${MAIL_DEAD_LETTER_QUEUE_NAME:-reset-mail-dead-letter}
export SES_STORE_URL=http://127.0.0.1:$SES_PORT
