#!/usr/bin/env bash
# Starts Debian's Janus for a test with the configuration we ship (docs/deploy/janus/*.jcfg), changing only
# what a test must: ports, addresses (everything on 127.0.0.1) and secrets. Writes the files into DIR and
# execs janus, so the caller's child process is Janus itself (stop it by its PID; SIGKILL is a crash); its
# log goes to stdout. Used by tests/e2e/janus.mjs and by the Rust tests through
# signaling-server/tests/common/janus_process.rs.
# Usage: janus.sh DIR HTTP_PORT ADMIN_PORT WS_PORT API_SECRET ADMIN_SECRET ROOM_ADMIN_KEY [RTP_PORTS]
set -euo pipefail
if [[ $# -lt 7 ]]; then
  sed -n '2,7p' "$0" >&2
  exit 2
fi
dir=$1 http_port=$2 admin_port=$3 ws_port=$4 api_secret=$5 admin_secret=$6 room_admin_key=$7
rtp_ports=${8:-20000-40000}
shipped=$(cd "$(dirname "$0")/../../docs/deploy/janus" && pwd)

mkdir -p "$dir"
cp "$shipped"/janus.jcfg "$shipped"/janus.plugin.videoroom.jcfg "$shipped"/janus.transport.http.jcfg \
  "$shipped"/janus.transport.websockets.jcfg "$dir/"

# set_key FILE KEY VALUE: the shipped file's one `KEY = ...` line takes VALUE (a missing or repeated key means
# the shipped file changed under this script: fail rather than test something else).
set_key() {
  local file=$dir/$1 key=$2 value=$3 count
  count=$(grep -cE "^[[:space:]]*$key = " "$file" || true)
  if [[ $count != 1 ]]; then
    echo "tests/e2e/janus.sh: docs/deploy/janus/$1 has $count '$key = ' lines, expected 1: update this script" >&2
    exit 1
  fi
  sed -i -E "s|^([[:space:]]*$key = ).*|\\1$value|" "$file"
}
set_key janus.jcfg api_secret "\"$api_secret\""
set_key janus.jcfg admin_secret "\"$admin_secret\""
set_key janus.jcfg rtp_port_range "\"$rtp_ports\""
set_key janus.plugin.videoroom.jcfg admin_key "\"$room_admin_key\""
for key in ip admin_ip; do set_key janus.transport.http.jcfg "$key" '"127.0.0.1"'; done
for key in acl admin_acl; do set_key janus.transport.http.jcfg "$key" '"127."'; done
set_key janus.transport.http.jcfg port "$http_port"
set_key janus.transport.http.jcfg admin_port "$admin_port"
set_key janus.transport.websockets.jcfg ws_ip '"127.0.0.1"'
set_key janus.transport.websockets.jcfg ws_port "$ws_port"

command -v janus >/dev/null || { echo "tests/e2e/janus.sh: no janus: apt-get install janus (.ci/deps.sh installs it)" >&2; exit 127; }
exec janus --configs-folder="$dir" --config="$dir/janus.jcfg" --disable-colors
