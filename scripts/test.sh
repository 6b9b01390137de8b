#!/usr/bin/env bash
# Runs every test: unit tests, and integration tests against a moto server this script installs
# (into .venv) and starts on a free loopback port, then stops.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/local-aws.sh
local_aws_start
echo "== cfn-lint template.yaml" >&2
"$VENV/bin/cfn-lint" template.yaml
cargo test --workspace "$@"
