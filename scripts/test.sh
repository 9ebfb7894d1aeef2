#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Headless Chromium and playwright-core for the web-page tests.
scripts/browser-setup.sh
# The repository conformance tests need PostgreSQL on 127.0.0.1:5432.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
# A real S3-compatible server for the object-store conformance tests.
eval "$(scripts/garage.sh)"
# A target folder outside the clone lets repeated runs on one machine reuse the build.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/pitchgrade-target}
# Incremental state is several GB per test binary and buys nothing on a fresh clone.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
# Formatting first: it costs a second and fails fast. (Clippy is scripts/lint.sh:
# its check build of every dependency does not fit a fresh machine's CI budget
# beside the test build.)
cargo fmt --check
# Plain `cargo test`: lib, bins, integration and doc tests; benches are run by hand (BENCHMARKS.md).
cargo test --locked -- --test-threads=2
