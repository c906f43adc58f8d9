#!/usr/bin/env bash
# Memory and size benchmark of the desktop app (issue 5, "Memory and size"), run by hand, not by test.sh:
#   1. builds the release .deb with @tauri-apps/cli from npm (also the release binaries) and prints its size;
#   2. builds an empty Tauri 2 app (one window, a trivial page, same tauri version, features and profile)
#      in a temporary folder, as the baseline;
#   3. seeds a history of MESSAGES messages (default 1 000 000, over 1 000 rooms) with history-bench;
#   4. under Xvfb with a private session D-Bus, starts the empty shell, then the real app on that history
#      (offline: no server configured), one at a time so they share no pages, waits SETTLE seconds idle,
#      and sums PSS (/proc/PID/smaps_rollup) of the process and all its descendants (WebKitWebProcess,
#      WebKitNetworkProcess, and the bwrap/xdg-dbus-proxy sandbox helpers), printing each process.
# Targets: app ≤ 40 MB PSS above the empty shell in total; .deb ≤ 15 MB.
# Usage: src-tauri/bench/memory.sh   (ui/dist must exist; builds in $CARGO_TARGET_DIR, default target/)
# Environment: MESSAGES, SETTLE (seconds, default 20), MEMORY_BENCH_DIR (work folder, kept; default a new
# temporary folder, removed), npm_config_cache (npm's cache; keep it outside the repository).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
MESSAGES="${MESSAGES:-1000000}"
SETTLE="${SETTLE:-20}"
WORK="${MEMORY_BENCH_DIR:-$(mktemp -d /tmp/p2pchat-memory.XXXXXX)}"
mkdir -p "$WORK"
PIDS=()
cleanup() {
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n "${MEMORY_BENCH_DIR:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT
[[ -f ui/dist/index.html ]] || { echo "ui/dist is missing: npm --prefix ui ci && npm --prefix ui run build" >&2; exit 1; }

echo "==> release .deb (cargo tauri build --bundles deb; the UI is already built)"
npx --yes @tauri-apps/cli@2 build --bundles deb --config '{"build":{"beforeBuildCommand":""}}' >"$WORK/deb-build.log" 2>&1 \
  || { tail -30 "$WORK/deb-build.log"; exit 1; }
DEB=$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb | head -1)
APP_BIN="$CARGO_TARGET_DIR/release/p2pchat"
cargo build -q --release -p p2pchat-app --example history-bench  # seeds the history below

echo "==> empty Tauri 2 app (baseline)"
EMPTY="$WORK/empty-shell"
mkdir -p "$EMPTY/src" "$EMPTY/dist"
cp -r src-tauri/icons "$EMPTY/"
# Same lock file and release profile as the workspace, so the shared target folder reuses the same builds.
cp Cargo.lock "$EMPTY/"
cat >"$EMPTY/Cargo.toml" <<'EOF'
[package]
name = "empty-shell"
version = "0.1.0"
edition = "2024"

[build-dependencies]
tauri-build = { version = "2", features = [] }

[dependencies]
tauri = { version = "2", features = ["tray-icon", "image-png"] }

[profile.release]
lto = "thin"
codegen-units = 4
strip = true
EOF
echo 'fn main() { tauri_build::build() }' >"$EMPTY/build.rs"
cat >"$EMPTY/src/main.rs" <<'EOF'
fn main() {
    tauri::Builder::default()
        .run(tauri::generate_context!())
        .expect("empty shell failed");
}
EOF
echo '<!doctype html><html><head><meta charset="utf-8"><title>empty</title></head><body>empty</body></html>' \
  >"$EMPTY/dist/index.html"
cat >"$EMPTY/tauri.conf.json" <<'EOF'
{
  "productName": "empty-shell",
  "version": "0.1.0",
  "identifier": "org.p2pchat.emptyshell",
  "build": { "frontendDist": "dist" },
  "app": { "windows": [{ "label": "main", "title": "empty", "width": 1024, "height": 720 }] }
}
EOF
(cd "$EMPTY" && cargo build -q --release --features tauri/custom-protocol)
EMPTY_BIN="$CARGO_TARGET_DIR/release/empty-shell"

echo "==> history of $MESSAGES messages"
export XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config" XDG_CACHE_HOME="$WORK/cache"
DB="$XDG_DATA_HOME/org.p2pchat.app/history.sqlite3"
rm -rf "$XDG_DATA_HOME"
"$CARGO_TARGET_DIR/release/examples/history-bench" --messages "$MESSAGES" --queries 10 --db "$DB" | grep -E "^write|^database"

DISPLAY_NUM=$((90 + RANDOM % 100))
Xvfb ":$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
export DISPLAY=":$DISPLAY_NUM"
dbus-daemon --session --fork --address="unix:path=$WORK/bus" --print-pid=3 3>"$WORK/dbus.pid"
PIDS+=("$(cat "$WORK/dbus.pid")")
export DBUS_SESSION_BUS_ADDRESS="unix:path=$WORK/bus"
# As in the app tests: Xvfb has no GPU.
export WEBKIT_DISABLE_COMPOSITING_MODE=1

mib() { awk -v n="$1" -v d="$2" 'BEGIN { printf "%.1f", n / d }'; }
descendants() { local p; for p in $(ps -o pid= --ppid "$1"); do echo "$p"; descendants "$p"; done; }
# measure LABEL BINARY: starts it, waits SETTLE s, prints PSS per process and the total (kB) in $TOTAL.
measure() {
  local label=$1 bin=$2 pid p kb name
  "$bin" >"$WORK/$label.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  sleep "$SETTLE"
  kill -0 "$pid" || { echo "$label exited early:"; tail -20 "$WORK/$label.log"; exit 1; }
  TOTAL=0
  echo "$label:"
  for p in $pid $(descendants "$pid"); do
    kb=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    name=$(cat "/proc/$p/comm" 2>/dev/null || echo "?")
    printf "  %-24s %8d kB PSS\n" "$name" "$kb"
    TOTAL=$((TOTAL + kb))
  done
  printf "  %-24s %8d kB PSS (%s MiB)\n" total "$TOTAL" "$(mib "$TOTAL" 1024)"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  sleep 2
}

echo "==> PSS, idle ${SETTLE} s after start, one app at a time"
measure empty-shell "$EMPTY_BIN"
EMPTY_KB=$TOTAL
measure p2pchat "$APP_BIN"
APP_KB=$TOTAL

echo
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
  "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)," \
  "WebKitGTK $(dpkg-query -W -f '${Version}' libwebkit2gtk-4.1-0 2>/dev/null || echo '?')"
echo "PSS total: empty Tauri 2 window $(mib "$EMPTY_KB" 1024) MiB, p2pchat with $MESSAGES messages" \
  "$(mib "$APP_KB" 1024) MiB, difference $(mib $((APP_KB - EMPTY_KB)) 1024) MiB (target <= 40 MB)"
echo ".deb: $(basename "$DEB") $(mib "$(stat -c %s "$DEB")" 1048576) MiB (target <= 15 MB);" \
  "release binary $(mib "$(stat -c %s "$APP_BIN")" 1048576) MiB"
