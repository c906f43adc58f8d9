#!/usr/bin/env bash
# Runs p2pchat from the clone. Ctrl-C stops what it started.
#   ./run.sh [server flags]   builds and serves the web UI and the signaling server on http://127.0.0.1:8080
#   ./run.sh app [LINK]       also builds the desktop app and opens it against that server (needs a display);
#                             LINK: an invite link p2pchat://join#room=…&token=…&server=… to open
#   ./run.sh --help           this help and the server's flags, without building
# Installs only the Debian packages it needs (.ci/deps.sh): serving needs no browser, TURN or X; the app adds
# WebKitGTK and GStreamer. Builds land in target/ (CARGO_TARGET_DIR overrides), as a plain `cargo build`.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  sed -n '2,8s/^# \{0,1\}//p' "$0"
  cat <<'EOF'

The app mode reads the app's environment variables (docs/app.md): P2PCHAT_NAME fills in a name,
P2PCHAT_TOKEN an invitation, P2PCHAT_SERVER_URL picks another server (default ws://127.0.0.1:8080/ws,
started here unless one answers there already).
EOF
  local build
  for build in release debug; do
    if [[ -x "${CARGO_TARGET_DIR:-target}/$build/signaling-server" ]]; then
      echo
      "${CARGO_TARGET_DIR:-target}/$build/signaling-server" --help
      return
    fi
  done
  echo
  echo "Server flags: docs/operations.md, \"Configuration\" (the server is not built yet)."
}

case "${1:-}" in
  -h | --help | help)
    usage
    exit 0
    ;;
  app)
    mode=app
    shift
    ;;
  *) mode=server ;;
esac

source .ci/deps.sh
p2pchat_check_toolchain
unset P2PCHAT_UI_BUILT # always build the UI being served
if [[ "$mode" == server ]]; then
  p2pchat_install_apt_serve
  p2pchat_build_ui
  cargo build --release -p signaling-server
  exec "$CARGO_TARGET_DIR/release/signaling-server" --ui-dir ui/dist "$@"
fi

# The desktop app: it needs a display before anything is built.
if [[ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  echo "./run.sh app opens a window, and there is no display here (DISPLAY and WAYLAND_DISPLAY are unset)." >&2
  echo "Run it in a desktop session, or under a virtual one: xvfb-run -a ./run.sh app" >&2
  exit 1
fi
p2pchat_install_apt_app
p2pchat_build_ui
# Debug builds: the app's release build takes many times longer, and both embed the same ui/dist.
cargo build -p signaling-server -p p2pchat-app
export P2PCHAT_SERVER_URL="${P2PCHAT_SERVER_URL:-ws://127.0.0.1:8080/ws}"
server_pid=""
if [[ "$P2PCHAT_SERVER_URL" == ws://127.0.0.1:8080/* ]] && ! curl -fsS http://127.0.0.1:8080/healthz >/dev/null 2>&1; then
  "$CARGO_TARGET_DIR/debug/signaling-server" --ui-dir ui/dist &
  server_pid=$!
  trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null' EXIT
  for _ in $(seq 100); do
    curl -fsS http://127.0.0.1:8080/healthz >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { echo "the signaling server did not start" >&2; exit 1; }
    sleep 0.1
  done
  echo "signaling server on http://127.0.0.1:8080 (browsers can join there too); it stops with the app"
fi
"$CARGO_TARGET_DIR/debug/p2pchat" "$@"
