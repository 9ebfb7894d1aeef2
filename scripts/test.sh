#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A target folder outside the clone lets repeated runs on one machine reuse the build.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/pitchgrade-target}
cargo test --locked --all-targets -- --test-threads=2
