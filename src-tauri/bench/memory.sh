#!/usr/bin/env bash
# Memory and size benchmark of the desktop app (issue 5, "Memory and size"), run by hand, not by test.sh:
#   1. builds the release .deb with @tauri-apps/cli from npm (also the release binaries) and prints its size;
#   2. builds an empty Tauri 2 app (one window, a trivial page, same tauri version, features and profile)
#      in a temporary folder, as the baseline;
#   3. seeds a history of MESSAGES messages (default 1 000 000, over 1 000 rooms) with history-bench;
#   4. under Xvfb, inside src-tauri/tests/keyring-session.sh (a private session D-Bus with gnome-keyring's
#      Secret Service, as a desktop session has), starts the app once to encrypt that plain history in place
#      under a key it keeps in the keyring, as a first start after an upgrade does (not measured: stopped
#      once the history is open), then measures the empty shell and the real app on the encrypted history
#      (offline: no server configured), one at a time so they share no pages: waits SETTLE seconds idle,
#      checks the app opened its history (without a keyring it would ask for a passphrase and open
#      nothing), and sums PSS (/proc/PID/smaps_rollup) of the process and all its descendants
#      (WebKitWebProcess, WebKitNetworkProcess, and the bwrap/xdg-dbus-proxy sandbox helpers), printing
#      each process;
#   5. starts the app once more under WebKitWebDriver (src-tauri/bench/memory-search.mjs): PSS idle, then
#      after SEARCHES searches from the window, each with its next page (words, pairs of words and 3-letter
#      prefixes drawn from the seeded messages), taken 5 s after the last one (the history empties its page
#      cache, at most 32 MiB, 2 s after the last search): what searching leaves is the difference, added to
#      step 4's figure for the target.
# Targets: app ≤ 40 MB PSS above the empty shell in total; .deb ≤ 15 MB.
# Usage: src-tauri/bench/memory.sh   (ui/dist must exist; builds in $CARGO_TARGET_DIR, default target/;
# needs Xvfb, dbus and gnome-keyring: .ci/deps.sh)
# Environment: MESSAGES, SETTLE (seconds, default 20), SEARCHES (default 1000), MEMORY_BENCH_DIR (work folder, kept; default a new
# temporary folder, removed), npm_config_cache (npm's cache; keep it outside the repository).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PIDS=()
cleanup() {
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Second part, run by the first inside keyring-session.sh: the measurements (below the builds).
if [[ -z "${P2PCHAT_MEMORY_BUILT:-}" ]]; then
export MESSAGES="${MESSAGES:-1000000}" SETTLE="${SETTLE:-20}" SEARCHES="${SEARCHES:-1000}"
export WORK="${MEMORY_BENCH_DIR:-$(mktemp -d /tmp/p2pchat-memory.XXXXXX)}"
mkdir -p "$WORK"
trap 'cleanup; [[ -n "${MEMORY_BENCH_DIR:-}" ]] || rm -rf "$WORK"' EXIT
[[ -f ui/dist/index.html ]] || { echo "ui/dist is missing: npm --prefix ui ci && npm --prefix ui run build" >&2; exit 1; }

echo "==> release .deb (cargo tauri build --bundles deb; the UI is already built)"
npx --yes @tauri-apps/cli@2 build --bundles deb --config '{"build":{"beforeBuildCommand":""}}' >"$WORK/deb-build.log" 2>&1 \
  || { tail -30 "$WORK/deb-build.log"; exit 1; }
export DEB=$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb | head -1)
export APP_BIN="$CARGO_TARGET_DIR/release/p2pchat"
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
export EMPTY_BIN="$CARGO_TARGET_DIR/release/empty-shell"

echo "==> history of $MESSAGES messages"
export XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config" XDG_CACHE_HOME="$WORK/cache"
DB="$XDG_DATA_HOME/org.p2pchat.app/history.sqlite3"
rm -rf "$XDG_DATA_HOME"
# A plain history, as the release before encryption left it; the app's first start encrypts it.
"$CARGO_TARGET_DIR/release/examples/history-bench" --messages "$MESSAGES" --queries 10 --db "$DB" | grep -E "^write|^database"
# What step 5 searches for, drawn from the messages while the file is still plain: a word, two words (from
# two messages: most such pairs rarely meet, so the search walks far), the first 3 letters of a word.
python3 - "$DB" "$WORK/queries.txt" "$SEARCHES" <<'PY'
import random, re, sqlite3, sys
db, out, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(25)
con = sqlite3.connect(db)
last = con.execute("SELECT max(seq) FROM messages").fetchone()[0]
def words(longer_than=1):
    while True:
        (body,) = con.execute("SELECT body FROM messages WHERE seq >= ? LIMIT 1", (rng.randint(1, last),)).fetchone()
        found = [w for w in re.findall(r"\w+", body) if len(w) > longer_than]
        if found:
            return found
with open(out, "w") as f:
    for i in range(count):
        kind = i % 3
        if kind == 0:
            query = rng.choice(words())
        elif kind == 1:
            query = f"{rng.choice(words())} {rng.choice(words())}"
        else:
            query = rng.choice(words(3))[:3]
        f.write(query + "\n")
con.close()
PY

# The rest in a desktop-like session: a private session D-Bus with an unlocked keyring (its files under
# the work folder), where the app keeps the history's key; the keyring stops when the measuring ends.
P2PCHAT_MEMORY_BUILT=1 P2PCHAT_KEYRING_DIR="$WORK/keyring" src-tauri/tests/keyring-session.sh "$ROOT/src-tauri/bench/memory.sh"
exit
fi

DISPLAY_NUM=$((90 + RANDOM % 100))
Xvfb ":$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
export DISPLAY=":$DISPLAY_NUM"
# As in the app tests: Xvfb has no GPU.
export WEBKIT_DISABLE_COMPOSITING_MODE=1
DB="$XDG_DATA_HOME/org.p2pchat.app/history.sqlite3"

mib() { awk -v n="$1" -v d="$2" 'BEGIN { printf "%.1f", n / d }'; }
descendants() { local p; for p in $(ps -o pid= --ppid "$1"); do echo "$p"; descendants "$p"; done; }
# The app's log without its colours.
plain_log() { sed 's/\x1b\[[0-9;]*m//g' "$WORK/$1.log"; }
# measure LABEL BINARY [LOG_LINE]: starts it, waits SETTLE s (and until its log has LOG_LINE, if given),
# prints PSS per process and the total (kB) in $TOTAL.
measure() {
  local label=$1 bin=$2 expect=${3:-} pid p kb name
  "$bin" >"$WORK/$label.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  sleep "$SETTLE"
  kill -0 "$pid" || { echo "$label exited early:"; tail -20 "$WORK/$label.log"; exit 1; }
  if [[ -n "$expect" ]] && ! plain_log "$label" | grep -q "$expect"; then
    echo "$label: no \"$expect\" in its log after $SETTLE s:"; plain_log "$label" | tail -20; exit 1
  fi
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

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
[[ -f "$WORK/queries.txt" ]] || { echo "no $WORK/queries.txt (made with the history)" >&2; exit 1; }
echo "==> first start: the app encrypts the plain history in place, its key in the keyring (not measured)"
"$APP_BIN" >"$WORK/first-start.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1200); do
  plain_log first-start | grep -qE "history (from an older release encrypted and opened|locked|unavailable)" && break
  sleep 0.5
done
plain_log first-start | grep -m1 "encrypted and opened" \
  || { echo "the first start did not encrypt and open the history:"; plain_log first-start | tail -20; exit 1; }
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" 2>/dev/null || true
sleep 2

echo "==> PSS, idle ${SETTLE} s after start, one app at a time"
measure empty-shell "$EMPTY_BIN"
EMPTY_KB=$TOTAL
# The history must be open (with the keyring's key), not waiting for a passphrase.
measure p2pchat "$APP_BIN" "history opened"
APP_KB=$TOTAL

echo "==> PSS before and after $SEARCHES searches from the window (under WebDriver)"
QUERIES="$WORK/queries.txt" node src-tauri/bench/memory-search.mjs >"$WORK/search.out" 2>"$WORK/search.log" \
  || { cat "$WORK/search.out"; tail -20 "$WORK/search.log"; exit 1; }
grep -v '^total_kb=' "$WORK/search.out"
read -r IDLE_WD_KB SEARCHED_KB < <(sed -n 's/^total_kb=//p' "$WORK/search.out" | paste -sd' ')
SEARCH_KB=$((SEARCHED_KB - IDLE_WD_KB))

echo
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
  "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)," \
  "WebKitGTK $(dpkg-query -W -f '${Version}' libwebkit2gtk-4.1-0 2>/dev/null || echo '?')"
echo "load average (1, 5, 15 min): $LOAD_BEFORE before the starts, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "PSS total: empty Tauri 2 window $(mib "$EMPTY_KB" 1024) MiB, p2pchat with $MESSAGES messages (encrypted, open)" \
  "$(mib "$APP_KB" 1024) MiB, difference $(mib $((APP_KB - EMPTY_KB)) 1024) MiB (target <= 40 MB)"
echo "searching: +$(mib "$SEARCH_KB" 1024) MiB after $SEARCHES searches with their next pages; idle difference plus" \
  "that: $(mib $((APP_KB - EMPTY_KB + SEARCH_KB)) 1024) MiB (target <= 40 MB)"
echo ".deb: $(basename "$DEB") $(mib "$(stat -c %s "$DEB")" 1048576) MiB (target <= 15 MB);" \
  "release binary $(mib "$(stat -c %s "$APP_BIN")" 1048576) MiB"
