#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a while (FUZZ_SECONDS, 20 by default; scripts/test.sh runs
# them briefly). Installs cargo-fuzz into .tools/ the first time (from crates.io, about a minute) and
# uses the nightly toolchain beside stable for AddressSanitizer; where there is none, it fuzzes on
# stable with RUSTC_BOOTSTRAP=1 and no sanitizer (safe Rust; libFuzzer still finds panics).
# Usage: scripts/fuzz.sh [TARGET...]   (all targets when none is named)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_EACH=${FUZZ_SECONDS:-20}
if [ ! -x "$ROOT/.tools/bin/cargo-fuzz" ]; then
  echo "installing cargo-fuzz into .tools (once)" >&2
  cargo install --quiet --locked --root "$ROOT/.tools" cargo-fuzz@0.13.1
fi
export PATH="$ROOT/.tools/bin:$PATH"
TOOLCHAIN=(+nightly)
SANITIZER=()
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "no nightly toolchain: fuzzing on stable without a sanitizer" >&2
  TOOLCHAIN=()
  SANITIZER=(--sanitizer none)
  export RUSTC_BOOTSTRAP=1
fi
cd fuzz
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cargo "${TOOLCHAIN[@]}" fuzz list)
fi
for target in "${TARGETS[@]}"; do
  corpus="$ROOT/target/fuzz-corpus/$target"
  mkdir -p "$corpus"
  echo "== fuzz $target for ${SECONDS_EACH}s (corpus: target/fuzz-corpus/$target, seeds: fuzz/seeds/$target)" >&2
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  # -rss_limit_mb: a parser that held a whole input many times over would be caught here.
  cargo "${TOOLCHAIN[@]}" fuzz run "${SANITIZER[@]}" "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 2>&1 | tail -n 12
done
