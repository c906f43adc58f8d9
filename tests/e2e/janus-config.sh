#!/usr/bin/env bash
# Writes a Janus 1.1 configuration for tests into DIR: the videoroom plugin and the HTTP (the signaling
# server's API and admin API) and WebSocket (clients) transports only, all on 127.0.0.1, with token_auth,
# an api_secret, an admin_secret and a videoroom admin_key. Start it with
#   janus --configs-folder=DIR --config=DIR/janus.jcfg
# and stop it by its PID. Used by signaling-server/tests/sfu.rs and tests/e2e/janus.mjs.
# Usage: janus-config.sh DIR HTTP_PORT ADMIN_PORT WS_PORT API_SECRET ADMIN_SECRET ROOM_ADMIN_KEY [RTP_PORTS]
set -euo pipefail
if [[ $# -lt 7 ]]; then
  sed -n '2,7p' "$0" >&2
  exit 2
fi
dir=$1 http_port=$2 admin_port=$3 ws_port=$4 api_secret=$5 admin_secret=$6 room_admin_key=$7
rtp_ports=${8:-20000-40000}
lib=$(dirname "$(dpkg -L janus 2>/dev/null | grep -m1 '/janus/plugins/libjanus_videoroom.so$' || echo /usr/lib/x86_64-linux-gnu/janus/plugins/libjanus_videoroom.so)")
lib=${lib%/plugins}
mkdir -p "$dir/plugins" "$dir/transports" "$dir/empty"
# Janus loads every library in its folders: these hold only what the tests use.
ln -sf "$lib/plugins/libjanus_videoroom.so" "$dir/plugins/"
ln -sf "$lib/transports/libjanus_http.so" "$lib/transports/libjanus_websockets.so" "$dir/transports/"

cat >"$dir/janus.jcfg" <<CFG
general: {
	configs_folder = "$dir"
	plugins_folder = "$dir/plugins"
	transports_folder = "$dir/transports"
	events_folder = "$dir/empty"
	loggers_folder = "$dir/empty"
	debug_level = 4
	api_secret = "$api_secret"
	token_auth = true
	admin_secret = "$admin_secret"
	session_timeout = 60
	server_name = "p2pchat-test"
}
media: {
	rtp_port_range = "$rtp_ports"
}
nat: {
	ice_ignore_list = "vmnet"
}
CFG

cat >"$dir/janus.plugin.videoroom.jcfg" <<CFG
general: {
	admin_key = "$room_admin_key"
}
CFG

cat >"$dir/janus.transport.http.jcfg" <<CFG
general: {
	json = "plain"
	base_path = "/janus"
	http = true
	port = $http_port
	ip = "127.0.0.1"
	https = false
}
admin: {
	admin_base_path = "/admin"
	admin_http = true
	admin_port = $admin_port
	admin_ip = "127.0.0.1"
	admin_https = false
}
CFG

cat >"$dir/janus.transport.websockets.jcfg" <<CFG
general: {
	json = "plain"
	ws = true
	ws_port = $ws_port
	ws_ip = "127.0.0.1"
	wss = false
}
admin: {
	admin_ws = false
	admin_wss = false
}
CFG
