#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this file and nothing else).
# Installs what is missing, then: format check, clippy with warnings as errors, unit tests, the
# integration binary (tests/it) including the desktop end-to-end tour under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --locked --all-targets -- -D warnings

step "release build (the end-to-end tour drives this binary)"
cargo build --locked --release --bin pumpside

step "unit and integration tests, end-to-end included"
PUMPSIDE_E2E=1 cargo test --locked -- --test-threads=2

step "all green; screenshots in target/e2e/"
