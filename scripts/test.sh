#!/usr/bin/env bash
# Runs every test: the template checks, cargo deny, unit tests, and integration tests against a moto server
# (installed into .venv and started on a free loopback port, then stopped), including the real
# Lambda binaries under cargo lambda watch, and the S3 source's conformance suite against moto and
# SeaweedFS (a second S3, installed and started the same way), and the dashboard in headless
# Chromium (installed from Debian's packages when missing), signing in at a real OIDC provider
# (oidc-provider-mock, into .venv-oidc); then fuzzes each parser briefly
# (FUZZ_SECONDS, 10 each) and builds the functions for Lambda (x86_64).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each section says when it starts, so a slow run shows where its time went.
section() { echo "== $* [at $((SECONDS / 60))m$((SECONDS % 60))s]" >&2; }
source scripts/local-aws.sh
lambda_tools_install
sam_install
oidc_provider_install # .venv-oidc, for tests/dashboard_oidc.rs
scripts/install-browser.sh # chromium and chromium-driver, for tests/dashboard.rs
local_aws_start
seaweedfs_start # S3C_TEST_SEAWEED_ENDPOINT, for tests/s3_conformance.rs

section "template.yaml and the customer's role template: cfn-lint and sam validate --lint"
"$VENV/bin/cfn-lint" template.yaml roles/customer-role.yaml
AWS_DEFAULT_REGION=us-east-1 "$ROOT/.venv-sam/bin/sam" validate --lint

section "the Lambdas and the CLI build without test-support (connector_core::memory, ::conformance)"
# The workspace's default members without dev-dependencies, resolved together as a build from the
# root resolves them (cargo lambda watch's `cargo run --bin worker`); `cargo lambda build -p worker
# -p dispatcher -p api -p authorizer -p publisher`, sam build and `cargo install --path crates/cli` resolve a part of them.
# Any line printed names the culprit.
if cargo tree -e features,no-dev | grep test-support; then
  echo "a build of the Lambdas or the CLI enables test-support: see cargo tree -e features,no-dev -i connector-core" >&2
  exit 1
fi

section "cargo test (every integration test must run: S3C_REQUIRE_LOCAL_AWS=1 fails a test that would skip)"
S3C_REQUIRE_LOCAL_AWS=1 cargo test --workspace "$@"

section "cargo deny: licenses, bans, sources (deny.toml)"
scripts/deny.sh

section "cargo fuzz: each target for ${FUZZ_SECONDS:-10}s"
FUZZ_SECONDS=${FUZZ_SECONDS:-10} scripts/fuzz.sh

section "cargo lambda build --release (x86_64; arm64 cannot be built on these machines)"
cargo lambda build --release -p worker -p dispatcher -p intake -p api -p authorizer -p publisher
TARGET=$(cargo_target_dir)
ls -l "$TARGET/lambda/worker/bootstrap" "$TARGET/lambda/dispatcher/bootstrap" "$TARGET/lambda/api/bootstrap" \
  "$TARGET/lambda/authorizer/bootstrap" "$TARGET/lambda/publisher/bootstrap"
section "done"
