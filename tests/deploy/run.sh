#!/usr/bin/env bash
# The shipped deployment files (docs/deploy/, docs/operations.md "Several servers") started as an operator
# would, and a rolling restart run on them while two clients keep a call's session:
#   1. systemd-analyze verify on the unit p2pchat-signaling@.service;
#   2. in a network namespace with the addresses the files name (Redis 10.0.0.10, nginx 10.0.0.5, the
#      servers 10.0.0.11 and 10.0.0.12): Debian's redis-server with redis-p2pchat.conf, two servers started
#      as the unit starts them (tests/deploy/unit.sh) with signaling.env + signaling-N.env, nginx with
#      nginx/p2pchat.conf and p2pchat-proxy.conf (nginx -t, then real requests through it);
#   3. rolling-restart.sh 1 2 while two WebSocket clients keep their session (tests/deploy/roll.mjs).
# What must differ from a real host is substituted and said where it is. Run by test.sh after the browser
# tests, or on its own (needs root: it makes the namespace). Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

if [[ "${1:-}" != --in-netns ]]; then
  source .ci/deps.sh
  p2pchat_apt_install systemd redis-server nginx iproute2 procps curl openssl
  p2pchat_check_toolchain
  p2pchat_build_rust -q # the workspace's one build (a no-op when test.sh or tests/e2e/run.sh made it)
  export CARGO_TARGET_DIR
  # A namespace of our own: the 10.0.0.x addresses of the shipped files, fixed ports, nothing reachable
  # outside. The whole test runs in it with a time bound.
  exec timeout 600 unshare -n "$0" --in-netns
fi

deploy=$repo/docs/deploy
work=$(mktemp -d /tmp/p2pchat-deploy.XXXXXX)
# A copy of the build's server: the restarts below start it again, and must start the same binary even if
# the target directory is rebuilt meanwhile.
cp "${SIGNALING_SERVER_BIN:-$CARGO_TARGET_DIR/debug/signaling-server}" "$work/signaling-server"
export SIGNALING_SERVER_BIN=$work/signaling-server
export P2PCHAT_UNIT=$deploy/systemd/p2pchat-signaling@.service
export P2PCHAT_ETC=$work/etc # stands for /etc/p2pchat
export P2PCHAT_STATE=$work/state
mkdir -p "$P2PCHAT_ETC" "$P2PCHAT_STATE"
source tests/deploy/unit.sh

step() { printf -- '--- %s  [%ds]\n' "$*" "$SECONDS"; }
fail() {
  echo "tests/deploy/run.sh: FAIL: $*" >&2
  exit 1
}

redis_pid=
nginx_pid=
cleanup() {
  local rc=$?
  set +e
  if ((rc != 0)); then
    for log in "$P2PCHAT_STATE"/*.log "$work"/redis.log "$work"/nginx/error.log; do
      [[ -s "$log" ]] && { echo "--- last lines of $log"; tail -n 30 "$log"; }
    done
  fi
  [[ -n "$nginx_pid" ]] && kill "$nginx_pid" 2>/dev/null
  for instance in 1 2; do p2pchat_unit_stop "$instance" >/dev/null 2>&1; done
  [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT # the EXIT trap then stops what this script started

# wait_for WHAT SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq $((seconds * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "$what not within $seconds s"
}

step "systemd-analyze verify docs/deploy/systemd/p2pchat-signaling@.service"
# verify checks that ExecStart's binary exists: a copy names the build's server instead of
# /usr/local/bin/signaling-server; the rest is the shipped unit. It works without systemd as PID 1.
# Warnings (unknown keys, bad values) fail too, not only errors.
if ! command -v systemd-analyze >/dev/null; then
  fail "systemd-analyze is missing (Debian package systemd)"
fi
mkdir -p "$work/units"
sed "s#^ExecStart=/usr/local/bin/signaling-server#ExecStart=$SIGNALING_SERVER_BIN#" "$P2PCHAT_UNIT" \
  >"$work/units/p2pchat-signaling@.service"
ln -s p2pchat-signaling@.service "$work/units/p2pchat-signaling@1.service"
grep -q "^ExecStart=$SIGNALING_SERVER_BIN" "$work/units/p2pchat-signaling@.service" ||
  fail "the unit's ExecStart is no longer /usr/local/bin/signaling-server: update this test"
if ! out=$(systemd-analyze verify --man=no "$work/units/p2pchat-signaling@1.service" 2>&1) || [[ -n "$out" ]]; then
  fail "systemd-analyze verify: $out"
fi

step "network namespace: 10.0.0.5 (nginx), 10.0.0.10 (Redis), 10.0.0.11 and 10.0.0.12 (servers), 10.0.0.100 (clients)"
ip link set lo up
ip link add lan0 type veth peer name lan1
ip link set lan0 up
ip link set lan1 up
for host in 5 10 11 12; do ip addr add "10.0.0.$host/24" dev lan0; done
ip addr add 10.0.0.100/24 dev lan1
# One namespace holds every "host", so the kernel would pick the destination itself as a connection's source.
# Pick the sender's address instead, as on separate hosts: nginx's (10.0.0.5) towards the servers and Redis,
# so SIGNALING_TRUSTED_PROXIES=10.0.0.5 applies to nginx's connections, and the clients' (10.0.0.100)
# towards nginx, so X-Forwarded-For carries a client address.
for host in 10 11 12; do
  ip route replace table local local "10.0.0.$host" dev lan0 proto kernel scope host src 10.0.0.5
done
ip route replace table local local 10.0.0.5 dev lan0 proto kernel scope host src 10.0.0.100

step "secrets and /etc/p2pchat"
# As an operator would: the shipped env files unchanged, signaling-2.env made from signaling-1.env with the
# second server's address (as nginx/p2pchat.conf's upstream lists it), secrets from openssl rand.
cp "$deploy/systemd/signaling.env" "$deploy/systemd/signaling-1.env" "$P2PCHAT_ETC/"
sed 's/10\.0\.0\.11:/10.0.0.12:/g; s/signaling-1\.env/signaling-2.env/g' "$deploy/systemd/signaling-1.env" \
  >"$P2PCHAT_ETC/signaling-2.env"
grep -q '^SIGNALING_BIND=10.0.0.12:8080$' "$P2PCHAT_ETC/signaling-2.env" ||
  fail "signaling-1.env no longer binds 10.0.0.11:8080: update this test"
for secret in jwt-secret turn-secret; do
  openssl rand -base64 48 >"$P2PCHAT_ETC/$secret" # 64 bytes of text
done
chmod 0400 "$P2PCHAT_ETC"/*-secret

step "redis-server with docs/deploy/systemd/redis-p2pchat.conf"
# As on the Redis host: Debian's redis.conf with the shipped file appended. Then, last (later lines win),
# only what a test must change: stay in the foreground, and keep the pid file, log and working directory
# in the test's directory instead of the system's. The password placeholder already matches signaling.env.
redis_pass=$(sed -n 's/^requirepass //p' "$deploy/systemd/redis-p2pchat.conf")
grep -q "^SIGNALING_REDIS_URL=redis://:$redis_pass@10.0.0.10:6379/" "$P2PCHAT_ETC/signaling.env" ||
  fail "signaling.env's SIGNALING_REDIS_URL does not match redis-p2pchat.conf (password, 10.0.0.10:6379)"
{
  cat /etc/redis/redis.conf
  cat "$deploy/systemd/redis-p2pchat.conf"
  printf '%s\n' 'daemonize no' 'supervised no' "pidfile $work/redis.pid" "logfile $work/redis.log" "dir $work"
} >"$work/redis.conf"
redis-server "$work/redis.conf" &
redis_pid=$!
wait_for "Redis on 10.0.0.10:6379" 10 redis-cli -h 10.0.0.10 -a "$redis_pass" --no-auth-warning ping
[[ "$(redis-cli -h 10.0.0.10 --no-auth-warning ping 2>&1)" == NOAUTH* ]] || fail "Redis answers without its password"
# The shipped file's settings are the ones in effect (nothing later in the config overrode them).
for key in maxmemory-policy appendonly; do
  want=$(sed -n "s/^$key //p" "$deploy/systemd/redis-p2pchat.conf")
  [[ -z "$want" ]] && continue
  have=$(redis-cli -h 127.0.0.1 -a "$redis_pass" --no-auth-warning config get "$key" | tail -n 1)
  [[ "$have" == "$want" ]] || fail "Redis runs with $key $have, redis-p2pchat.conf says $want"
done

step "two signaling servers as p2pchat-signaling@1 and @2 (tests/deploy/unit.sh)"
# SIGNALING_UI_DIR=/usr/share/p2pchat/ui stays as shipped: it does not exist here, and the server then serves
# its placeholder page (a real host has the .deb's UI there).
for instance in 1 2; do p2pchat_unit_start "$instance"; done
# ready: /readyz answers 200 (listening and subscribed to Redis); fails at once if the process exited.
server_ready() {
  p2pchat_unit_alive "$(<"$P2PCHAT_STATE/$1.pid")" || fail "server $1 exited at start"
  curl -fsS "http://10.0.0.1$1:9090/readyz"
}
for instance in 1 2; do
  wait_for "server $instance ready (/readyz on 10.0.0.1$instance:9090)" 20 server_ready "$instance"
  grep -h '^unit.sh:' "$P2PCHAT_STATE/$instance.log" || true
done
grep -v '^unit.sh:' "$P2PCHAT_STATE/1.log" | head -n 1 | grep -q '^{' || fail "SIGNALING_LOG_JSON=1: server 1 does not log JSON lines"

step "nginx -t with docs/deploy/nginx/p2pchat.conf and p2pchat-proxy.conf"
# As on the nginx host, p2pchat.conf goes into an http block (conf.d) and includes p2pchat-proxy.conf. Changed
# in a copy: the include's path (the repo's file, not /etc/nginx/), the certificate (self-signed for
# chat.example.org and 10.0.0.5 instead of Let's Encrypt's), and around it the test's own pid, log and temp
# paths (the same main block tests/e2e/cluster.test.mjs runs the proxy file in: tests/e2e/nginx-main.conf).
mkdir -p "$work/nginx"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=chat.example.org \
  -addext 'subjectAltName=DNS:chat.example.org,IP:10.0.0.5' \
  -keyout "$work/nginx/privkey.pem" -out "$work/nginx/fullchain.pem" 2>/dev/null
sed -e "s#include /etc/nginx/p2pchat-proxy.conf;#include $deploy/nginx/p2pchat-proxy.conf;#" \
  -e "s#/etc/letsencrypt/live/chat.example.org/#$work/nginx/#" \
  "$deploy/nginx/p2pchat.conf" >"$work/nginx/p2pchat.conf"
grep -q "include $deploy/nginx/p2pchat-proxy.conf;" "$work/nginx/p2pchat.conf" ||
  fail "nginx/p2pchat.conf no longer includes /etc/nginx/p2pchat-proxy.conf: update this test"
sed -e "s#@DIR@#$work/nginx#g" -e "s#@HTTP@#include $work/nginx/p2pchat.conf;#" tests/e2e/nginx-main.conf \
  >"$work/nginx/nginx.conf"
nginx -t -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" 2>&1 | sed 's/^/    /'
nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
ca=(--cacert "$work/nginx/fullchain.pem")
wait_for "nginx on 10.0.0.5:443" 10 curl -fsS "${ca[@]}" https://10.0.0.5/healthz
[[ "$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' http://10.0.0.5/x)" == "301 https://10.0.0.5/x" ]] ||
  fail "nginx on port 80 does not redirect to https"
[[ "$(curl -fsS "${ca[@]}" https://10.0.0.5/)" == *'<title>p2pchat'* ]] ||
  fail "the web UI (here its placeholder page) is not served through nginx"
# The upgrade through nginx with the allowed origin; an origin not allowed is refused by the server.
ws=(-sS -o /dev/null -w '%{http_code}' "${ca[@]}" -H 'Connection: Upgrade' -H 'Upgrade: websocket'
  -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' --max-time 1)
[[ "$(curl "${ws[@]}" -H 'Origin: https://chat.example.org' https://10.0.0.5/ws 2>/dev/null || true)" == 101 ]] ||
  fail "no WebSocket upgrade through nginx for Origin https://chat.example.org (SIGNALING_ALLOWED_ORIGINS)"
[[ "$(curl "${ws[@]}" -H 'Origin: https://evil.example' https://10.0.0.5/ws || true)" == 403 ]] ||
  fail "an origin that signaling.env does not allow was not refused"

step "rolling-restart.sh 1 2 while two clients keep a call's session (tests/deploy/roll.mjs)"
# rolling-restart.sh as shipped, with its two overrides: /etc/p2pchat is $P2PCHAT_ETC, and systemctl is
# tests/deploy/systemctl, a stand-in that restarts the local instance as systemd would (unit.sh).
DEPLOY_WS_URL=wss://10.0.0.5/ws \
  DEPLOY_JWT_SECRET=$P2PCHAT_ETC/jwt-secret \
  DEPLOY_METRICS=10.0.0.11:9090,10.0.0.12:9090 \
  DEPLOY_ROLL="P2PCHAT_ETC=$P2PCHAT_ETC SYSTEMCTL=$repo/tests/deploy/systemctl $deploy/rolling-restart.sh 1 2" \
  NODE_EXTRA_CA_CERTS=$work/nginx/fullchain.pem \
  timeout 300 node --experimental-websocket --no-warnings tests/deploy/roll.mjs

echo "tests/deploy/run.sh: all deployment checks passed in ${SECONDS}s"
