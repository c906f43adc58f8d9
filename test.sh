#!/usr/bin/env bash
# Runs every check of the project: formatting, lints (Rust, the GitHub workflows), Rust unit/integration/
# property tests, the web UI's unit and browser end-to-end tests, the deployment files (tests/deploy), the
# desktop app's tests, and the .deb installed, started and removed again. Installs what is missing first.
# The web UI is built and its npm packages installed once, here: the suites below see P2PCHAT_UI_BUILT=1
# and reuse that build. A suite whose script is missing or not executable fails the run; none is skipped.
set -euo pipefail
cd "$(dirname "$0")"

# The suites run after the Rust checks, in this order.
SUITES=(tests/e2e/run.sh tests/deploy/run.sh src-tauri/tests/run-app-tests.sh src-tauri/tests/install-deb.sh)

check_suite() { # check_suite SCRIPT: fails the run unless SCRIPT exists and is executable
  if [[ ! -f "$1" ]]; then
    echo "test.sh: FAIL: test suite $1 is missing" >&2
    exit 1
  fi
  if [[ ! -x "$1" ]]; then
    echo "test.sh: FAIL: test suite $1 is not executable (chmod +x $1)" >&2
    exit 1
  fi
}
# Before anything else, so a missing suite fails at once rather than after the builds.
for suite in "${SUITES[@]}"; do check_suite "$suite"; done

# Each step prints how far into the run it starts (docs/performance.md, "Test run", lists them).
step() { printf '\n==> %s  [%dm%02ds into the run]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

step "install what is missing (Debian packages, rustfmt/clippy, npm packages)"
source .ci/deps.sh
p2pchat_install_apt # everything: serving, the desktop app, GStreamer, the tests' tools
p2pchat_check_toolchain
p2pchat_check_lint_tools
unset P2PCHAT_UI_BUILT # this run builds the UI itself, whatever the calling shell had
p2pchat_npm_install ui tests/e2e

step "rustfmt"
cargo fmt --all --check

step "web UI build (the desktop app embeds ui/dist)"
p2pchat_build_ui

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "GitHub workflows (actionlint)"
.github/lint-workflows.sh

step "the client core (and the headless peer built on it) depends on no Tauri, WebKitGTK or SQLite"
# Its dev-dependencies may not bring in the UI stack either. They do bring in SQLite: the core's tests run
# against the real signaling server, whose push store is SQLite; the headless peer binary is checked below.
if cargo tree -p p2pchat-core --edges normal,build --prefix none --locked | grep -E '^(tauri|webkit2gtk|wry|sqlx|gtk) ' ||
  cargo tree -p p2pchat-core --edges normal,build,dev --prefix none --locked | grep -E '^(tauri|webkit2gtk|wry|gtk) '; then
  echo "test.sh: FAIL: p2pchat-core pulls in the crates above" >&2
  exit 1
fi

step "Rust build: every target of the workspace in one cargo invocation (the suites below reuse it)"
p2pchat_build_rust
peer_symbols=$(nm "${CARGO_TARGET_DIR:-target}/debug/examples/p2pchat-peer") # fails the run if it is missing
if grep -m1 ' sqlite3_' <<<"$peer_symbols"; then
  echo "test.sh: FAIL: the headless peer links SQLite" >&2
  exit 1
fi

step "Rust tests (protocol, server with Redis and Janus, client core with native links and media, app) in a network namespace"
# Inside the namespace nothing can reach a real network, and the native links' tests run instead of
# skipping. The build above already happened outside it (--offline: the namespace has no network).
tests/e2e/netns.sh env P2PCHAT_NETNS_TESTS=1 PROPTEST_CASES="${PROPTEST_CASES:-2000}" \
  cargo test --workspace --locked --offline

step "web UI: unit tests and browser end-to-end tests"
check_suite tests/e2e/run.sh
tests/e2e/run.sh

step "the shipped deployment files: systemd unit, Redis, nginx, rolling restart under two clients"
check_suite tests/deploy/run.sh
tests/deploy/run.sh

step "desktop app under Xvfb"
check_suite src-tauri/tests/run-app-tests.sh
src-tauri/tests/run-app-tests.sh

step "the .deb: packaged from the debug build, apt-get install, start under Xvfb, purge"
check_suite src-tauri/tests/install-deb.sh
src-tauri/tests/install-deb.sh

echo
echo "test.sh: all checks passed in $((SECONDS / 60))m$((SECONDS % 60))s"
