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
# Cargo does not re-run whisper-rs-sys's build script when .cargo/config.toml's
# GGML_* settings change: a cache built before GGML_LLAMAFILE was set is cleaned.
if grep -qs "GGML_LLAMAFILE:BOOL=OFF" "$CARGO_TARGET_DIR"/debug/build/whisper-rs-sys-*/out/build/CMakeCache.txt; then
  cargo clean -p whisper-rs-sys
fi
# Formatting first: it costs a second and fails fast.
cargo fmt --check
# Clippy rides on the test build as the workspace's rustc wrapper: it lints our
# own crates, warnings as errors, while they compile for the tests, so the
# dependencies are built once (a separate `cargo clippy` checks each again,
# which a fresh machine's CI budget cannot afford). scripts/lint.sh is the same
# lint as a plain `cargo clippy`.
command -v clippy-driver >/dev/null || rustup component add clippy
export RUSTC_WORKSPACE_WRAPPER=${RUSTC_WORKSPACE_WRAPPER-$(command -v clippy-driver)}
export CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# `cargo test` does not build the benches; they must still compile (one sat
# broken for a whole session). In the test profile this reuses the test build.
cargo test --locked --benches --no-run
# Plain `cargo test`: lib, bins, integration and doc tests; benches are run by hand (BENCHMARKS.md).
cargo test --locked -- --test-threads=2
