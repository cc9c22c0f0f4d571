#!/usr/bin/env bash
# Offline checks of the SAM template: cfn-lint, then the SAM CLI's own validation (which runs
# the SAM transform and cfn-lint again with SAM's rule set). Uses only the project's venv
# (.tools/venv, installed from requirements-dev.txt); installs nothing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_BIN="$REPO/.tools/venv/bin"
TEMPLATE="infra/template.yaml"
REGION="${AWS_REGION:-ap-northeast-1}"

for tool in cfn-lint sam; do
  if [[ ! -x "$VENV_BIN/$tool" ]]; then
    echo "error: $VENV_BIN/$tool not found; install the pinned tools from requirements-dev.txt into .tools/venv first" >&2
    exit 1
  fi
done

cd "$REPO"
export SAM_CLI_TELEMETRY=0

echo "==> cfn-lint $TEMPLATE"
"$VENV_BIN/cfn-lint" "$TEMPLATE"

echo "==> sam validate --lint --region $REGION -t $TEMPLATE"
"$VENV_BIN/sam" validate --lint --region "$REGION" -t "$TEMPLATE"

# ---------------------------------------------------------------------------------------------
# TODO(sam build): prove the template builds, not only lints. Add here, when the Rust build may
# run (needs cargo-lambda and ziglang from the venv on PATH; compiles all three functions):
#   echo "==> sam build --beta-features -t $TEMPLATE"
#   PATH="$VENV_BIN:$PATH" "$VENV_BIN/sam" build --beta-features -t "$TEMPLATE"
# ---------------------------------------------------------------------------------------------

echo "==> infra checks passed"
