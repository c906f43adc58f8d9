#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, Rust unit/integration/property tests, the web UI's
# unit and browser end-to-end tests, and the desktop app's tests. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")"
source .ci/deps.sh
p2pchat_install_apt
p2pchat_check_toolchain

step() { echo; echo "==> $*"; }

step "rustfmt"
cargo fmt --all --check

step "web UI build (the desktop app embeds ui/dist)"
p2pchat_build_ui

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests (protocol, signaling server, fuzz properties)"
PROPTEST_CASES="${PROPTEST_CASES:-2000}" cargo test --workspace --locked

if [[ -x tests/e2e/run.sh ]]; then
  step "web UI: unit tests and browser end-to-end tests"
  tests/e2e/run.sh
fi

if [[ -x src-tauri/tests/run-app-tests.sh ]]; then
  step "desktop app under Xvfb"
  src-tauri/tests/run-app-tests.sh
fi

echo
echo "test.sh: all checks passed"
