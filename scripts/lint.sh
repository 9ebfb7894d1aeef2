#!/usr/bin/env bash
# Lints the whole tree as CI's test run does not: clippy on every target with
# warnings as errors, and the formatting check. Run before a commit.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/pitchgrade-target}
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
