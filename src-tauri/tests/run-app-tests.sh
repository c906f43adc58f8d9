#!/usr/bin/env bash
# End-to-end test of the desktop app under Xvfb: builds the app (debug) and the signaling server, seeds a
# plain history on disk as the release before encryption left it, then
#   0. drives the window through WebDriver (app-ui.mjs) with the server unreachable: conversation list from
#      disk, accent-folded search with highlighted hits, a stored conversation readable while offline; the
#      first start encrypted the history in place under a key it put in the keyring (no seeded text or
#      schema left in clear; history-sql with the keyring's key counts every message);
#   0b. on a device with no keyring, the window asks for a passphrase, which encrypts a plain history, then
#      opens it at the next start; a wrong one changes nothing; a new history keeps the locked file; a locked
#      history's saved "Ring me when the window is closed" holds right after the passphrase opens it
#      (app-history-lock.mjs);
# Every app run has a session D-Bus with gnome-keyring's Secret Service (keyring-session.sh), one keyring
# for the whole run under the work dir, as a desktop session would have.
# Then it starts the server, a session D-Bus with a notification daemon (dunst) and a capture of
# org.freedesktop.Notifications, launches the app against the server, and checks that
#   1. the window appears (xwininfo) and a screenshot is not blank (saved under the work dir),
#   2. the app opened the history from disk and reported whether the webview has RTCPeerConnection,
#   3. the app connected and rejoined its room, and
#   4. a peer ringing then cancelling makes the app post a "Missed call" notification (Notify on D-Bus);
# and finally, again through WebDriver with a headless peer (p2pchat-peer) in the room,
#   5. chat both ways over the native data-channel fallback (the webview has no WebRTC) with the headless
#      peer and with a Chromium page running the web UI, with delivered status, the peer's message posted as a notification (window in the background) and both messages
#      stored in the app's SQLite history;
#   6. a call between the window (native media) and a Chromium page, both directions (app-call.mjs).
#   6b. a media pipeline failing mid-call (the app's test pattern, a real GStreamer error) shows its notice in the
#      window's call, which goes on (app-media-error.mjs, with a headless peer);
#   7. files between the window (native links) and a Chromium page, both ways, and cancelled from the window
#      either way (app-files.mjs);
#   8. on a server with --auth-secret: joining from a pasted invite link, with the token saved for that server
#      after a restart, and from a p2pchat:// deep link (app-invite.mjs);
#   9. ringing with the window closed: the tray, the login item and its hidden start (app-tray.mjs);
#  10. on a server with --push: the window lists someone away (a Chromium page that turned on "Ring me here
#      when I'm away" and closed), its call rings his devices by push, and his notification's Answer brings
#      him into the window's call (app-push.mjs);
#  11. a call through the SFU: the window (native media) and two headless peers decode each other through
#      Debian's Janus, end-to-end encrypted; a peer leaving replaces the keys; Janus killed ends the call with a
#      notice (app-sfu.mjs).
# Everything after the build runs in a private network namespace (tests/e2e/netns.sh): WebRTC needs an
# interface with a route, and no candidate may leave the machine.
# Idempotent, bounded in time, stops only the processes it started. Prints PASS/FAIL; exits 1 on failure.
# Environment: CARGO_TARGET_DIR (default target/ of the clone), APP_TEST_DIR (kept for inspection).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

# Debian packages (Tauri stack, Xvfb, D-Bus, dunst, ImageMagick), npm installs, the UI build and the cache
# locations (CARGO_TARGET_DIR): .ci/deps.sh. Run from test.sh, its installs and UI build are reused.
source .ci/deps.sh
[[ -n "${P2PCHAT_IN_NETNS:-}" ]] || p2pchat_install_apt

WORK="${APP_TEST_DIR:-$(mktemp -d /tmp/p2pchat-app-test.XXXXXX)}"
mkdir -p "$WORK"
PIDS=()
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
cleanup() {
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Build outside the namespace (it has no network), then run the rest of this script inside it.
if [[ -z "${P2PCHAT_IN_NETNS:-}" ]]; then
  # The app embeds ui/dist at compile time: build the web UI first (once per run: P2PCHAT_UI_BUILT).
  p2pchat_build_ui >/dev/null
  # playwright-core drives Chromium in the chat check (tests/e2e's package).
  p2pchat_npm_install tests/e2e
  echo "==> building the app, the headless peer and the signaling server (debug)"
  p2pchat_build_rust -q # the workspace's one build (no-op after test.sh's)
  # The history's key in a real Secret Service (history::key_tests; elsewhere those two print SKIPPED).
  echo "==> the history key in the OS keyring (cargo test history::key_tests under keyring-session.sh)"
  if src-tauri/tests/keyring-session.sh cargo test -q --locked --offline -p p2pchat-app --lib history::key_tests -- --nocapture \
    >"$WORK/key-tests.log" 2>&1 && ! grep -q SKIPPED "$WORK/key-tests.log"; then
    echo "PASS: $(grep -o '[0-9]* passed' "$WORK/key-tests.log" | tail -1) with the key in gnome-keyring"
  else
    echo "FAIL: history::key_tests with a Secret Service (see $WORK/key-tests.log)"
    exit 1
  fi
  trap - EXIT
  exec env P2PCHAT_IN_NETNS=1 APP_TEST_DIR="$WORK" tests/e2e/netns.sh "$ROOT/src-tauri/tests/run-app-tests.sh" "$@"
fi
BIN="$CARGO_TARGET_DIR/debug"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for SECONDS COMMAND...: retries COMMAND until it succeeds or time runs out
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
}

PORT=$(free_port)
"$BIN/signaling-server" --bind "127.0.0.1:$PORT" --ui-dir ui/dist >"$WORK/server.log" 2>&1 &
PIDS+=($!)
wait_for 20 curl -fsS "http://127.0.0.1:$PORT/healthz" || { fail "signaling server did not start"; cat "$WORK/server.log"; exit 1; }

# History already on disk before the app starts (offline browsing), in the app's data dir.
export XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config" XDG_CACHE_HOME="$WORK/cache"
DB="$XDG_DATA_HOME/org.p2pchat.app/history.sqlite3"
rm -rf "$XDG_DATA_HOME" && mkdir -p "$(dirname "$DB")"
SEEDED=5000
"$BIN/examples/history-bench" --messages "$SEEDED" --rooms 20 --queries 20 --db "$DB" >"$WORK/seed.log"
# A session D-Bus with the run's one keyring (its files under the work dir), for every app start below.
rm -rf "$WORK/keyring"
SESSION_BUS=(env P2PCHAT_KEYRING_DIR="$WORK/keyring" src-tauri/tests/keyring-session.sh)
# app_step NAME SECONDS WHAT COMMAND...: a WebDriver test (COMMAND, with WORK, and WebKit's compositing off
# for the app it starts) on the run's session bus within SECONDS, its stderr in $WORK/webdriver-NAME.log;
# any exit but 0 (a FAIL line, a crash, the timeout) fails WHAT.
app_step() {
  local name=$1 seconds=$2 what=$3
  shift 3
  if ! WORK="$WORK" WEBKIT_DISABLE_COMPOSITING_MODE=1 timeout "$seconds" "${SESSION_BUS[@]}" "$@" 2>"$WORK/webdriver-$name.log"; then
    fail "$what (see $WORK/webdriver-$name.log)"
  fi
}

DISPLAY_NUM=$((90 + RANDOM % 100))
Xvfb ":$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
export DISPLAY=":$DISPLAY_NUM"
wait_for 10 xwininfo -root || { fail "Xvfb did not start"; exit 1; }

# 0. Offline: the app's server does not answer (a port nobody listens on); WebDriver reads the window.
echo "==> offline history and search through WebDriver"
P2PCHAT_SERVER_URL="ws://127.0.0.1:$(free_port)/ws" P2PCHAT_NAME=Tester APP_BIN="$BIN/p2pchat" \
  app_step offline 200 "offline WebDriver checks" node src-tauri/tests/app-ui.mjs offline
# The seeded history was plain: the first start encrypted it under a key it put in the keyring.
counted=$("${SESSION_BUS[@]}" "$BIN/examples/history-sql" --db "$DB" "SELECT count(*) FROM messages" 2>>"$WORK/history-sql.log" || true)
if [[ "$(head -c 15 "$DB")" != "SQLite format 3" ]] && ! grep -qa -e 'CREATE TABLE' -e 'meeting' "$DB"* &&
  [[ "$counted" == "$SEEDED" ]]; then
  pass "the plain history was encrypted in place on first start: no SQLite header, schema or seeded text in clear; the keyring's key reads all $counted messages"
else
  fail "history at $DB not encrypted as expected (history-sql with the keyring's key: '$counted' of $SEEDED)"
fi

# 0b. A device without a keyring: the passphrase screen, on its own data folder.
echo "==> no keyring: the history's passphrase through WebDriver"
LOCK_DATA="$WORK/lock-data"
rm -rf "$LOCK_DATA" && mkdir -p "$LOCK_DATA/org.p2pchat.app"
"$BIN/examples/history-bench" --messages 300 --rooms 5 --queries 2 --db "$LOCK_DATA/org.p2pchat.app/history.sqlite3" >"$WORK/seed-lock.log"
XDG_DATA_HOME="$LOCK_DATA" DB="$LOCK_DATA/org.p2pchat.app/history.sqlite3" MESSAGES=300 APP_BIN="$BIN/p2pchat" \
  HISTORY_SQL="$BIN/examples/history-sql" P2PCHAT_SERVER_URL="ws://127.0.0.1:$(free_port)/ws" P2PCHAT_NAME=Tester \
  P2PCHAT_NO_KEYRING=1 app_step lock 400 "the history's passphrase without a keyring" node src-tauri/tests/app-history-lock.mjs

# A session script's start: a notification daemon and a capture of Notify calls (to $WORK/notify-NAME.log)
# on the session bus it runs in.
notify_session() { # notify_session NAME > script
  printf '%s\n' 'set -u' \
    "dunst >\"\$WORK/dunst-$1.log\" 2>&1 &" \
    "dbus-monitor --session \"interface='org.freedesktop.Notifications',member='Notify'\" >\"\$WORK/notify-$1.log\" 2>&1 &" \
    'sleep 0.5'
}

# Session bus + notification daemon + capture of Notify calls, then the app, all in one session.
{ notify_session ring; cat <<'INNER'
export P2PCHAT_SERVER_URL="ws://127.0.0.1:$PORT/ws" P2PCHAT_NAME=Tester P2PCHAT_JOIN=e2e-room
export WEBKIT_DISABLE_COMPOSITING_MODE=1 RUST_LOG=info
exec "$BIN/p2pchat" >"$WORK/app.log" 2>&1
INNER
} >"$WORK/session.sh"
WORK="$WORK" PORT="$PORT" BIN="$BIN" setsid "${SESSION_BUS[@]}" bash "$WORK/session.sh" &
SESSION=$!
PIDS+=("$SESSION")

if wait_for 60 bash -c "xwininfo -root -tree | grep -q '\"p2pchat\"'"; then
  pass "the app window appears"
else
  fail "no p2pchat window within 60 s"
fi
sleep 3 # let the page render
import -display "$DISPLAY" -window root "$WORK/screenshot.png"
deviation=$(convert "$WORK/screenshot.png" -colorspace gray -format '%[fx:standard_deviation]' info:)
if awk -v d="$deviation" 'BEGIN { exit !(d > 0.01) }'; then
  pass "screenshot shows content ($WORK/screenshot.png)"
else
  fail "screenshot is blank (deviation $deviation)"
fi

if grep -q "history opened" "$WORK/app.log"; then pass "history opened from disk ($DB)"; else fail "history not opened"; fi
if wait_for 20 grep -q "webview capabilities" "$WORK/app.log"; then
  caps=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/app.log" | grep -o 'rtc_peer_connection=[a-z]* get_user_media=[a-z]*' | tail -1)
  pass "webview reported: $caps"
else
  fail "the page never reported its WebRTC capabilities"
fi

if timeout 60 "$BIN/examples/ring" "ws://127.0.0.1:$PORT/ws" e2e-room Tester >"$WORK/ring.log" 2>&1; then
  pass "a peer found the app in its remembered room and rang it"
else
  fail "ringing the app failed: $(cat "$WORK/ring.log")"
fi
if wait_for 15 grep -q "Missed call from Ringer" "$WORK/notify-ring.log"; then
  pass "missed-call notification posted on org.freedesktop.Notifications"
else
  fail "no missed-call notification (see $WORK/notify-ring.log, $WORK/app.log)"
fi
if grep -q "Incoming video call from Ringer" "$WORK/notify-ring.log"; then
  echo "note: incoming-call notification posted too (window was not focused)"
fi

kill -- -"$SESSION" 2>/dev/null || true
wait "$SESSION" 2>/dev/null || true

# 5. Chat with a headless peer through the window (WebDriver), notifications captured on the session bus.
echo "==> chat over the native data channel through WebDriver"
{ notify_session chat; cat <<'INNER'
export P2PCHAT_SERVER_URL="ws://127.0.0.1:$PORT/ws" P2PCHAT_NAME=Tester P2PCHAT_JOIN=e2e-chat ROOM=e2e-chat
export APP_BIN="$BIN/p2pchat" PEER_BIN="$BIN/examples/p2pchat-peer"
exec node src-tauri/tests/app-ui.mjs chat
INNER
} >"$WORK/chat-session.sh"
PORT="$PORT" BIN="$BIN" app_step chat 300 "chat through the window" bash "$WORK/chat-session.sh"
if grep -q "hello from the peer" "$WORK/notify-chat.log"; then
  pass "the peer's message was posted as a notification (window in the background)"
else
  fail "no notification for the peer's message (see $WORK/notify-chat.log)"
fi
# Read with the key the app keeps in the keyring (the file is encrypted).
stored=$("${SESSION_BUS[@]}" "$BIN/examples/history-sql" --db "$DB" \
  "SELECT body || ' (' || iif(outgoing, 'out', 'in') || ', ' || status || ')' FROM messages WHERE room = 'e2e-chat' ORDER BY sent_at" |
  paste -sd ';' | sed 's/;/; /g')
if [[ "$stored" == *"hello from the peer (in, received)"* && "$stored" == *"hello from the app (out, delivered)"* &&
  "$stored" == *"hello from the browser (in, received)"* && "$stored" == *"hello to the browser (out, delivered)"* ]]; then
  pass "the chat is stored in the app's history: $stored"
else
  fail "history of e2e-chat: '$stored'"
fi
# 6. Calls in the window through the native media (GStreamer test sources, P2PCHAT_TEST_MEDIA=1: Xvfb has
#    no camera) with a Chromium page: video and sound both ways, hang-up on either side; the page's call while
#    the window is in the background posts the incoming-call notification.
echo "==> calls through the native media, WebDriver and a Chromium page"
{ notify_session call; cat <<'INNER'
export P2PCHAT_SERVER_URL="ws://127.0.0.1:$PORT/ws" P2PCHAT_NAME=Tester P2PCHAT_JOIN=e2e-call ROOM=e2e-call
export P2PCHAT_FORCE_FALLBACK=1 P2PCHAT_TEST_MEDIA=1 APP_BIN="$BIN/p2pchat"
exec node src-tauri/tests/app-call.mjs
INNER
} >"$WORK/call-session.sh"
PORT="$PORT" BIN="$BIN" app_step call 320 "calls through the window" bash "$WORK/call-session.sh"
if grep -q "Incoming video call from Browser" "$WORK/notify-call.log"; then
  pass "the page's call posted an incoming-call notification (window in the background)"
else
  fail "no incoming-call notification for the page's call (see $WORK/notify-call.log)"
fi
# 6b. A pipeline failing mid-call reaches the window: the app's test pattern fails with a GStreamer error
#     10 s after it started (P2PCHAT_TEST_MEDIA_FAIL_AFTER frames), in a call with a headless peer.
echo "==> a media pipeline failing mid-call, through WebDriver and a headless peer"
ROOM=e2e-media-error APP_BIN="$BIN/p2pchat" PEER_BIN="$BIN/examples/p2pchat-peer" \
  P2PCHAT_SERVER_URL="ws://127.0.0.1:$PORT/ws" P2PCHAT_NAME=Tester P2PCHAT_JOIN=e2e-media-error \
  P2PCHAT_FORCE_FALLBACK=1 P2PCHAT_TEST_MEDIA=1 P2PCHAT_TEST_MEDIA_FAIL_AFTER=300 \
  app_step media-error 200 "a media pipeline failing mid-call, in the window" node src-tauri/tests/app-media-error.mjs
# 7. Files in the window over the native links with a Chromium page: each way with progress on both sides and
#    the original's SHA-256 (received files land in the download folder named in user-dirs.dirs), and a
#    transfer cancelled from the window in each direction.
echo "==> files through the native links, WebDriver and a Chromium page"
rm -rf "$WORK/downloads" "$WORK/files-config" && mkdir -p "$WORK/downloads" "$WORK/files-config"
printf 'XDG_DOWNLOAD_DIR="%s"\n' "$WORK/downloads" >"$WORK/files-config/user-dirs.dirs"
ROOM=e2e-files DOWNLOADS="$WORK/downloads" APP_BIN="$BIN/p2pchat" XDG_CONFIG_HOME="$WORK/files-config" \
  P2PCHAT_SERVER_URL="ws://127.0.0.1:$PORT/ws" P2PCHAT_NAME=Tester P2PCHAT_JOIN=e2e-files P2PCHAT_FORCE_FALLBACK=1 \
  app_step files 420 "files through the window" node src-tauri/tests/app-files.mjs
# 8. Invitations: a server that requires tokens; the window gets in with a pasted invite link, with the token
#    it saved for that server after a restart, and from a p2pchat:// deep link (app-invite.mjs).
echo "==> invitations (a server with --auth-secret) through WebDriver"
AUTH_PORT=$(free_port)
AUTH_SECRET="app-test-invite-secret-of-32-bytes"
"$BIN/signaling-server" --bind "127.0.0.1:$AUTH_PORT" --ui-dir ui/dist --auth-secret "$AUTH_SECRET" >"$WORK/auth-server.log" 2>&1 &
PIDS+=($!)
if ! wait_for 20 curl -fsS "http://127.0.0.1:$AUTH_PORT/healthz"; then
  fail "the auth signaling server did not start (see $WORK/auth-server.log)"
else
  APP_BIN="$BIN/p2pchat" AUTH_SERVER="ws://127.0.0.1:$AUTH_PORT/ws" AUTH_SECRET="$AUTH_SECRET" \
    app_step invite 400 "invitations through the window" node src-tauri/tests/app-invite.mjs
fi
# 9. Ringing with the window closed (app-tray.mjs): the switch and Start at login from the start screen, the
#    window closed as a window manager does, the tray menu clicked over D-Bus, the login item's --hidden start;
#    a scratch HOME holds the login item, a fresh data folder the settings.
echo "==> ring when the window is closed: tray, login item, hidden start"
{ notify_session tray; cat <<'INNER'
export P2PCHAT_SERVER_URL="ws://127.0.0.1:$PORT/ws" P2PCHAT_NAME=Tester P2PCHAT_JOIN=e2e-tray NOTIFY_LOG="$WORK/notify-tray.log"
export APP_BIN="$BIN/p2pchat" RING_BIN="$BIN/examples/ring"
export HOME="$WORK/tray-home" XDG_DATA_HOME="$WORK/tray-data"
exec node src-tauri/tests/app-tray.mjs
INNER
} >"$WORK/tray-session.sh"
rm -rf "$WORK/tray-home" "$WORK/tray-data" && mkdir -p "$WORK/tray-home"
PORT="$PORT" BIN="$BIN" app_step tray 420 "ringing with the window closed" bash "$WORK/tray-session.sh"
# 10. Ringing people who are away (app-push.mjs): a server with push on (its registrations in a file under the
#     work dir; --push-allow-private takes the test's push service on 127.0.0.1); Bob turns on "Ring me here
#     when I'm away" in Chromium and closes his page; the window lists him away, its call rings his devices,
#     and Answer on the notification his browser shows brings him into the call.
echo "==> ringing people who are away from the window: a server with push, WebDriver and a Chromium page"
PUSH_PORT=$(free_port)
"$BIN/signaling-server" --bind "127.0.0.1:$PUSH_PORT" --ui-dir ui/dist --push --push-allow-private \
  --push-db "$WORK/push.sqlite3" >"$WORK/push-server.log" 2>&1 &
PIDS+=($!)
if ! wait_for 20 curl -fsS "http://127.0.0.1:$PUSH_PORT/healthz"; then
  fail "the push signaling server did not start (see $WORK/push-server.log)"
else
  ROOM=e2e-push APP_BIN="$BIN/p2pchat" P2PCHAT_SERVER_URL="ws://127.0.0.1:$PUSH_PORT/ws" \
    P2PCHAT_NAME=Tester P2PCHAT_JOIN=e2e-push P2PCHAT_FORCE_FALLBACK=1 P2PCHAT_TEST_MEDIA=1 XDG_DATA_HOME="$WORK/push-data" \
    app_step push 300 "ringing people who are away from the window" node src-tauri/tests/app-push.mjs
fi
# 11. A call through the SFU (app-sfu.mjs): Debian's Janus behind a server with --mesh-size 2 (the test starts
#     both), the window with native media and two headless peers: three people move the call to Janus; the
#     window and the peers decode each other through it, end-to-end encrypted with keys sent over the native
#     links, one peer leaves (new keys), and Janus killed ends the window's call with a notice.
echo "==> a call through the SFU (Janus): WebDriver and two headless peers"
ROOM=e2e-sfu APP_BIN="$BIN/p2pchat" PEER_BIN="$BIN/examples/p2pchat-peer" SIGNALING_SERVER_BIN="$BIN/signaling-server" \
  P2PCHAT_NAME=Tester P2PCHAT_FORCE_FALLBACK=1 P2PCHAT_TEST_MEDIA=1 XDG_DATA_HOME="$WORK/sfu-data" \
  app_step sfu 300 "a call through the SFU in the window" node src-tauri/tests/app-sfu.mjs
echo
if ((failures)); then
  echo "app tests: $failures FAILED (logs in $WORK)"
  exit 1
fi
echo "app tests: all passed (logs and screenshot in $WORK)"
