#!/usr/bin/env bash
# Builds and starts the signaling server with the web UI on http://127.0.0.1:8080 (Ctrl-C stops it).
# Extra arguments go to the server, e.g. ./run.sh --bind 0.0.0.0:8080 --turn-url ... (see --help).
# Installs only what serving needs (.ci/deps.sh's P2PCHAT_APT_SERVE): no browser, TURN, X or WebKitGTK.
set -euo pipefail
cd "$(dirname "$0")"
source .ci/deps.sh
p2pchat_install_apt_serve
p2pchat_check_toolchain
unset P2PCHAT_UI_BUILT # always build the UI being served
p2pchat_build_ui
cargo build --release -p signaling-server
exec "$CARGO_TARGET_DIR/release/signaling-server" --ui-dir ui/dist "$@"
