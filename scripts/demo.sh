#!/usr/bin/env bash
# The README's run command: set up a fresh Debian/Ubuntu machine if needed, build the release
# app and open it in demo mode. Extra arguments go to pumpside (e.g. --window 390x844).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec cargo run --locked --release --bin pumpside -- --demo "$@"
