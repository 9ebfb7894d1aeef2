#!/usr/bin/env bash
# The README's first command: set up on a fresh machine and grade the bundled
# sample pitch offline on the embedded defaults (local Whisper, offline judge).
# Extra arguments go to `pitchgrade grade`, e.g. `scripts/demo.sh --json`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/pitchgrade-target}
# The dev profile (dependencies optimised, see Cargo.toml) shares its build
# with the test suite, so running both on a fresh machine compiles once.
cargo build --locked --quiet --bin pitchgrade
exec "$CARGO_TARGET_DIR/debug/pitchgrade" grade fixtures/sample-pitch.ogg \
  --rubric rubrics/ledgerly-sales-pitch.toml --timings "$@"
