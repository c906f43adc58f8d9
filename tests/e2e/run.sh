#!/usr/bin/env bash
# Web UI checks: type check and unit tests (vitest), then browser end-to-end tests in real Chromium against
# the real signaling server, inside a network namespace (netns.sh) so WebRTC sees only test addresses.
# Arguments: test files to run (default: all). Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/p2pchat/target}"
export npm_config_cache="${npm_config_cache:-$HOME/.cache/p2pchat/npm}"

install() { # npm ci only when the lock changed since the last install
  if [[ ! -d "$1/node_modules" ]] || [[ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]]; then
    npm --prefix "$1" ci --no-audit --no-fund
  fi
}
install ui
install tests/e2e

echo "--- ui: type check"
npm --prefix ui run check
echo "--- ui: unit tests"
npm --prefix ui test
echo "--- ui: build"
npm --prefix ui run build >/dev/null
cargo build -q -p signaling-server
cargo build -q -p p2pchat-app --example p2pchat-peer  # the native fallback's CLI peer (fallback.test.mjs)

echo "--- native data-channel fallback, Rust to Rust (network namespace)"
tests/e2e/netns.sh env P2PCHAT_NETNS_TESTS=1 cargo test -q -p p2pchat-app --test fallback

echo "--- browser end-to-end tests (network namespace)"
tests=("$@")
if ((${#tests[@]} == 0)); then tests=(tests/e2e/*.test.mjs); fi
tests/e2e/netns.sh node --test --test-concurrency=1 --test-timeout=240000 "${tests[@]}"
