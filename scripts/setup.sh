#!/usr/bin/env bash
# Installs everything building, running and testing Pumpside needs on a fresh Debian or Ubuntu
# machine. Idempotent: installs only what is missing. Called by both README commands (scripts/demo.sh, tests/run-all.sh).
set -euo pipefail

# Build: WebKitGTK/GTK for the desktop window, libxdo for Dioxus's menu/shortcut crates,
# D-Bus for btleplug (BlueZ), OpenSSL headers for dioxus-desktop's dev-tools websocket.
# Tests: Xvfb (a display without a screen), xdotool (taps), imagemagick (screenshots), Node.js
# for the FHIR test peer (tests/peers/fhir), python3-venv for the Python FHIR validator
# (tests/peers/python); dbus (dbus-daemon) and Debian's python3 with
# python3-dbusmock for the mocked BlueZ the Bluetooth tests talk to (tests/peers/bluez);
# gnome-keyring for a real Secret Service on a private session bus (tests/it/keystore.rs).
packages=(
  build-essential pkg-config curl ca-certificates
  libwebkit2gtk-4.1-dev libgtk-3-dev libxdo-dev libssl-dev libdbus-1-dev
  xvfb xdotool imagemagick
  dbus python3 python3-dbus python3-dbusmock python3-venv
  gnome-keyring
)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Rust: the stable toolchain with rustfmt and clippy (the quality gates use both).
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
if command -v rustup >/dev/null 2>&1; then
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
fi
# The FHIR peer's packages, exactly as locked.
peer="$(dirname "$0")/../tests/peers/fhir"
if [ ! -d "$peer/node_modules/@medplum/core" ] || [ "$peer/package-lock.json" -nt "$peer/node_modules" ]; then
  echo "setup: installing the FHIR test peer (npm ci)"
  (cd "$peer" && npm ci --no-audit --no-fund)
fi
# Python's FHIR R4B models (fhir.resources), exactly as pinned, in a private virtualenv.
py="$(dirname "$0")/../tests/peers/python"
if [ ! -x "$py/.venv/bin/python" ] || [ "$py/requirements.txt" -nt "$py/.venv/installed" ]; then
  echo "setup: installing the Python FHIR validator (fhir.resources)"
  python3 -m venv "$py/.venv"
  "$py/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$py/requirements.txt"
  touch "$py/.venv/installed"
fi
echo "setup: ready"
