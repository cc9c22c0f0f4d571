#!/usr/bin/env bash
# make smoke BASE_URL=https://…: walks the reset flow against a deployed stack (see
# docs/operations.md, "Smoke test"). Not run by make test: it needs a deployed stack, and the
# full walk needs a test account whose mailbox the operator can read.
#
#   BASE_URL             the stack's public origin (ResetPageUrl without /password-reset)
#   SMOKE_USERNAME       the test account (8 half-width alphanumerics); without it, or with
#                        SMOKE_SHALLOW=1, only the steps that need no mailbox run (CI does that)
#   SMOKE_LINK_COMMAND   optional: a command that prints the newest reset mail (or just its
#                        link) of that account, e.g. a script reading the test mailbox; without
#                        it the operator pastes the link from the mailbox
#   SMOKE_NEW_PASSWORD   optional: the password to set (default: a fresh random one, printed)
#
# The full walk changes the test account's password: use an account kept for this.
set -euo pipefail

BASE_URL=${BASE_URL:-}
BASE_URL=${BASE_URL%/}
[ -n "$BASE_URL" ] || { echo "usage: make smoke BASE_URL=https://id.example.jp [SMOKE_USERNAME=…]" >&2; exit 2; }
case "$BASE_URL" in https://*|http://127.0.0.1:*|http://localhost:*) ;; *) echo "error: BASE_URL must be https" >&2; exit 2 ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
say() { printf '==> %s\n' "$*"; }
ok() { printf '    ok    %s\n' "$*"; }
bad() { printf '    FAIL  %s\n' "$*"; failures=$((failures + 1)); }

# request METHOD PATH [curl args…]: status in $status, body in $work/body, headers in $work/headers.
request() {
  local method=$1 path=$2; shift 2
  status=$(curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' --max-time 30 \
    -X "$method" -H "Origin: $BASE_URL" "$@" "$BASE_URL$path") || status=000
}
expect_status() { if [ "$status" = "$1" ]; then ok "$2 → $status"; else bad "$2 → $status, expected $1"; fi; }
expect_body() { if grep -qF -- "$1" "$work/body"; then ok "$2"; else bad "$2 (no \"$1\" in the answer)"; fi; }
expect_header() { if grep -qi -- "^$1" "$work/headers"; then ok "header $1"; else bad "header $1 missing"; fi; }

say "pages answer, with the security headers ($BASE_URL)"
request GET /password-reset
expect_status 200 "GET /password-reset"
expect_body 'name="username"' "the request form"
expect_header "cache-control: no-store"
expect_header "content-security-policy: "
expect_header "strict-transport-security: "
expect_header "referrer-policy: no-referrer"
expect_header "x-content-type-options: nosniff"

request GET "/password-reset/confirm?token=not-a-token"
expect_status 400 "a garbage link gets the invalid-link page"

request POST /api/password-reset/verify -H 'content-type: application/json' --data '{"token":'
expect_status 400 "malformed JSON gets a JSON 400"

if [ -z "${SMOKE_USERNAME:-}" ] || [ "${SMOKE_SHALLOW:-0}" = "1" ]; then
  # A well-formed username that no account has: the generic answer, and no mail.
  request POST /password-reset -H 'content-type: application/x-www-form-urlencoded' --data 'username=zz999999'
  expect_status 200 "POST /password-reset (unknown account) gets the generic answer"
  [ "$failures" = 0 ] || { echo "smoke test: $failures failure(s)"; exit 1; }
  echo "smoke test passed (shallow: set SMOKE_USERNAME for the full walk with a mailbox)"
  exit 0
fi

say "requesting a reset for $SMOKE_USERNAME"
started=$(date +%s)
request POST /password-reset -H 'content-type: application/x-www-form-urlencoded' --data-urlencode "username=$SMOKE_USERNAME"
expect_status 200 "POST /password-reset"

say "reading the link from the mail"
link=
if [ -n "${SMOKE_LINK_COMMAND:-}" ]; then
  for _ in $(seq 1 30); do
    link=$(bash -c "$SMOKE_LINK_COMMAND" 2>/dev/null | grep -o "$BASE_URL/password-reset/confirm?token=[A-Za-z0-9_-]*" | tail -n 1 || true)
    [ -n "$link" ] && break
    sleep 5
  done
else
  printf '    Paste the link from the mail to %s (sent at %s), then Enter:\n    > ' "$SMOKE_USERNAME" "$(date -d "@$started" '+%H:%M:%S')"
  read -r link </dev/tty
fi
token=$(printf '%s' "$link" | grep -o 'token=[A-Za-z0-9_-]*' | head -n 1 | cut -d= -f2 || true)
[ -n "$token" ] || { bad "no reset link found"; echo "smoke test: $failures failure(s)"; exit 1; }
case "$link" in "$BASE_URL"/password-reset/confirm*) ok "the link is on $BASE_URL" ;; *) bad "the link points elsewhere: ${link%%\?*}" ;; esac

say "opening the link (twice: opening must not consume it)"
for attempt in 1 2; do
  request GET "/password-reset/confirm?token=$token"
  expect_status 200 "GET the link ($attempt)"
done
expect_body 'name="token"' "the confirm page carries the token into its form"

request POST /password-reset/confirm -H 'content-type: application/x-www-form-urlencoded' --data-urlencode "token=$token"
expect_status 200 "「パスワードのリセット」"
expect_body 'name="new_password"' "the new-password form"

password=${SMOKE_NEW_PASSWORD:-Sm0ke$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 12)x}
request POST /password-reset/complete -H 'content-type: application/x-www-form-urlencoded' \
  --data-urlencode "token=$token" --data-urlencode "new_password=$password" \
  --data-urlencode "new_password_confirmation=$password"
expect_status 200 "「パスワードを変更」"

request GET "/password-reset/confirm?token=$token"
expect_status 400 "the used link is dead"

[ "$failures" = 0 ] || { echo "smoke test: $failures failure(s)"; exit 1; }
[ -n "${SMOKE_NEW_PASSWORD:-}" ] || echo "    the test account's password is now: $password"
echo "smoke test passed: expect a password-changed notice in the test mailbox"
