#!/usr/bin/env bash
# Checks the dependency graph against deny.toml with cargo deny: licenses, bans and sources by
# default (what scripts/test.sh runs); pass `advisories` where GitHub (the RustSec database) is
# reachable. Installs cargo-deny into .tools/ the first time (from crates.io, a few minutes).
# Usage: scripts/deny.sh [CHECK...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [ ! -x "$ROOT/.tools/bin/cargo-deny" ]; then
  echo "installing cargo-deny into .tools (once)" >&2
  cargo install --quiet --locked --root "$ROOT/.tools" cargo-deny@0.20.2
fi
CHECKS=("$@")
[ ${#CHECKS[@]} -eq 0 ] && CHECKS=(licenses bans sources)
"$ROOT/.tools/bin/cargo-deny" --log-level error check "${CHECKS[@]}"
