#!/usr/bin/env bash
# Web UI checks: type check and unit tests (vitest), then browser end-to-end tests in real Chromium against
# the real signaling server, inside a network namespace (netns.sh) so WebRTC sees only test addresses.
# Arguments: test files to run (default: all). Needs root.
# Run from test.sh it reuses test.sh's installs and web UI build (P2PCHAT_UI_BUILT=1); on its own it does
# them itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Debian packages, npm installs, the UI build and the cache locations: one place for all scripts.
source .ci/deps.sh
p2pchat_install_apt # Chromium, coturn, iproute2, and the app's stack for the fallback peer
p2pchat_npm_install ui tests/e2e # only what is missing or older than its lock file

echo "--- ui: type check"
npm --prefix ui run check
echo "--- ui: unit tests"
npm --prefix ui test
echo "--- ui: build"
p2pchat_build_ui >/dev/null
# The signaling server and the headless native peer (p2pchat-peer): the workspace's one build, a no-op when
# test.sh has made it.
p2pchat_build_rust -q

echo "--- browser end-to-end tests (network namespace)"
tests=("$@")
if ((${#tests[@]} == 0)); then tests=(tests/e2e/*.test.mjs); fi
tests/e2e/netns.sh node --test --test-concurrency=1 --test-timeout=240000 "${tests[@]}"
