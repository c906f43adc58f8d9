#!/usr/bin/env bash
# Runs a command with an OS keyring as a desktop session has one: a private session D-Bus
# (dbus-run-session) with gnome-keyring's Secret Service, whose login keyring is created and unlocked
# with a throwaway password in a temporary folder (the user's own keyrings are never touched). The app's
# history keeps its key there (src-tauri/src/history/keystore.rs).
#   src-tauri/tests/keyring-session.sh cargo test -p p2pchat-app --lib history::key_tests
# Needs dbus and gnome-keyring (.ci/deps.sh installs them). Already inside a session bus (the Xvfb app
# tests start one), source this file and call `p2pchat_keyring_start <private folder>` instead.
set -euo pipefail

# Starts gnome-keyring's Secret Service on the session bus in $DBUS_SESSION_BUS_ADDRESS, its files under
# $1 (a private folder) and its login keyring unlocked; waits until it answers on the bus. Sets
# P2PCHAT_KEYRING_PID (stop it with `kill`).
p2pchat_keyring_start() {
  local home="$1" i
  mkdir -p "$home/data" "$home/run"
  chmod 700 "$home/run"
  export XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$home/run"
  printf 'p2pchat-test-keyring' |
    gnome-keyring-daemon --foreground --components=secrets --unlock >"$home/keyring.env" 2>"$home/keyring.log" &
  P2PCHAT_KEYRING_PID=$!
  for i in $(seq 100); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
      string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
      return 0
    fi
    sleep 0.1
  done
  echo "keyring-session.sh: gnome-keyring did not start:" >&2
  cat "$home/keyring.log" >&2
  return 1
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  return 0 # sourced: the function only
fi

if [[ -z "${P2PCHAT_KEYRING_SESSION:-}" ]]; then
  command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null || {
    echo "keyring-session.sh: needs dbus-run-session and gnome-keyring-daemon (.ci/deps.sh)" >&2
    exit 1
  }
  home="$(mktemp -d)"
  trap 'rm -rf "$home"' EXIT
  # A session bus that starts no services itself: only the keyring started below answers (one D-Bus
  # would activate outlives the bus).
  cat >"$home/bus.conf" <<'CONF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
  P2PCHAT_KEYRING_SESSION="$home" dbus-run-session --config-file="$home/bus.conf" -- "$0" "$@"
  exit
fi

p2pchat_keyring_start "$P2PCHAT_KEYRING_SESSION"
trap 'kill "$P2PCHAT_KEYRING_PID" 2>/dev/null || true' EXIT
"$@"
