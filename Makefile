# The two commands of the README. Each installs what it needs (pinned, into node_modules/
# and .tools/) and says what it is doing.
.PHONY: run test admin lint audit infra-check zips bench profile smoke clean

## make run: the service on http://127.0.0.1:9000/password-reset, mail viewer on :8005. Ctrl-C stops it.
run:
	@scripts/run.sh

## make test: every check and test against a local stack of its own (ports 8100/8105/8110; TEST_PORT_BASE=N moves them).
test:
	@scripts/test.sh

## make admin ARGS="user show ex000000": reset-admin against the running make run stack (scripts/admin finds
## its endpoints; STACK_NAME=… picks another local stack).
admin:
	@scripts/admin $(ARGS)

## Formatting and clippy only.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## cargo-audit (pinned, installed into .tools/) on Cargo.lock, offline, with the vendored RustSec
## advisory database (audit/README.md: why vendored, how to refresh it).
audit:
	@scripts/audit.sh

## cfn-lint and sam validate on infra/template.yaml.
infra-check:
	@scripts/bootstrap.sh
	@scripts/check-infra.sh

## Release arm64 bootstrap zips of every function (cargo lambda build), with their sizes.
zips:
	@scripts/zips.sh

## make bench: cold start, peak RSS and CPU per request of each function next to a hello-world floor,
## criterion micro-benchmarks and arm64 zip sizes; writes bench/results/latest.json (docs/performance.md).
bench:
	@scripts/bench.sh

## make profile: perf record of each function under the bench's harness; per-function folded stacks,
## a summary of where the CPU goes and flame graphs (with inferno) in .local/profile/ (docs/performance.md).
profile:
	@scripts/profile.sh

## make smoke BASE_URL=https://… [SMOKE_USERNAME=… SMOKE_LINK_COMMAND=…]: walks the flow against a
## deployed stack with a test account and its mailbox (docs/operations.md). Not part of make test.
smoke:
	@BASE_URL="$(BASE_URL)" scripts/smoke.sh

clean:
	rm -rf .local target/lambda
