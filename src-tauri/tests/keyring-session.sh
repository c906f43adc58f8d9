#!/usr/bin/env bash
# Runs a command with an OS keyring as a desktop session has one: a private session D-Bus
# (dbus-run-session) with gnome-keyring's Secret Service, whose login keyring is created and unlocked
# with a throwaway password in a private folder (the user's own keyrings are never touched). The app's
# history keeps its key there (src-tauri/src/history/keystore.rs).
#   src-tauri/tests/keyring-session.sh cargo test -p p2pchat-app --lib history::key_tests
# The bus starts no services itself (a daemon D-Bus activated would outlive it): only the keyring started
# here answers, and it is stopped when the command ends.
# P2PCHAT_KEYRING_DIR=<folder>: keep the keyring's files there, so several sessions (app restarts) share
# one keyring; otherwise a temporary folder, deleted at the end.
# P2PCHAT_NO_KEYRING=1: the same session bus without a keyring (a device that has none).
# Needs dbus and gnome-keyring (.ci/deps.sh installs them).
set -euo pipefail

if [[ -z "${P2PCHAT_KEYRING_BUS:-}" ]]; then
  command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null || {
    echo "keyring-session.sh: needs dbus-run-session and gnome-keyring-daemon (.ci/deps.sh)" >&2
    exit 1
  }
  bus="$(mktemp -d)"
  trap 'rm -rf "$bus"' EXIT
  cat >"$bus/bus.conf" <<'CONF'
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
  P2PCHAT_KEYRING_BUS="$bus" dbus-run-session --config-file="$bus/bus.conf" -- "$0" "$@"
  exit
fi

# Inside the session bus.
if [[ -n "${P2PCHAT_NO_KEYRING:-}" ]]; then
  exec "$@"
fi
home="${P2PCHAT_KEYRING_DIR:-$P2PCHAT_KEYRING_BUS/keyring}"
mkdir -p "$home/data" "$home/run"
chmod 700 "$home/run"
# Only the daemon sees these (the command keeps its own XDG folders).
printf 'p2pchat-test-keyring' |
  XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$home/run" \
    gnome-keyring-daemon --foreground --components=secrets --unlock >"$home/keyring.env" 2>"$home/keyring.log" &
keyring=$!
trap 'kill "$keyring" 2>/dev/null || true; wait "$keyring" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
    string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
    "$@"
    exit
  fi
  sleep 0.1
done
echo "keyring-session.sh: gnome-keyring did not start:" >&2
cat "$home/keyring.log" >&2
exit 1
