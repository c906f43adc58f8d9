# Sourced by tests/deploy/run.sh and tests/deploy/systemctl: starts and stops one instance of the shipped
# docs/deploy/systemd/p2pchat-signaling@.service the way systemd would, where systemd is not PID 1 (this
# container, CI). What is read from the unit file itself, so the test follows it when it changes:
#   EnvironmentFile=  each file, in order (lines KEY=VALUE; comments and blank lines skipped; a line in
#                     another form fails the test rather than being read differently from systemd)
#   LoadCredential=   name:path, copied into the instance's credentials directory (%d)
#   Environment=      with %d and %i expanded
#   ExecStart=        its arguments as written, the binary replaced by the build's signaling-server
#   LimitNOFILE=      ulimit -n;  TimeoutStopSec=: SIGTERM, then SIGKILL after it (p2pchat_unit_stop)
# The environment is only those variables plus PATH, as under systemd. /etc/p2pchat in the unit stands
# for $P2PCHAT_ETC (a temporary directory). Not reproduced: DynamicUser and the sandboxing options
# (systemd-analyze verify checks them; they need systemd to apply), Restart= and the After= ordering.
#
# Needs: P2PCHAT_UNIT (the unit file), P2PCHAT_ETC, P2PCHAT_STATE (pid files, logs, credentials),
# SIGNALING_SERVER_BIN.

# p2pchat_unit_values KEY: every value of KEY= in the unit, one per line, in order.
p2pchat_unit_values() {
  sed -n "s/^$1=//p" "$P2PCHAT_UNIT"
}

# p2pchat_unit_expand INSTANCE TEXT: systemd's %i and %d, and /etc/p2pchat → $P2PCHAT_ETC.
p2pchat_unit_expand() {
  local text=$2
  text=${text//%i/$1}
  text=${text//%d/$P2PCHAT_STATE/credentials-$1}
  printf '%s\n' "${text//\/etc\/p2pchat/$P2PCHAT_ETC}"
}

# p2pchat_unit_env_file FILE: prints its KEY=VALUE lines; fails on anything this reader would not read as
# systemd does (quotes, continuations, spaces around =).
p2pchat_unit_env_file() {
  local line
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ ! "$line" =~ ^[A-Za-z_][A-Za-z0-9_]*=[^\"\'\\[:space:]]*$ ]]; then
      echo "unit.sh: $1: a line this test cannot read as systemd would: $line" >&2
      return 1
    fi
    printf '%s\n' "$line"
  done <"$1"
}

# p2pchat_unit_alive PID: the process runs (a zombie, exited but not yet reaped by its parent, does not).
p2pchat_unit_alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

# p2pchat_unit_start INSTANCE: starts p2pchat-signaling@INSTANCE in the background; pid in
# $P2PCHAT_STATE/INSTANCE.pid, output in $P2PCHAT_STATE/INSTANCE.log (appended: restarts add to it).
p2pchat_unit_start() {
  local instance=$1 value file name src creds env=() exec_start argv limit
  creds=$(p2pchat_unit_expand "$instance" %d)
  mkdir -p "$creds"
  while IFS= read -r value; do
    file=$(p2pchat_unit_expand "$instance" "${value#-}")
    if [[ ! -f "$file" ]]; then
      [[ "$value" == -* ]] && continue # optional file
      echo "unit.sh: EnvironmentFile $file (from $value) is missing" >&2
      return 1
    fi
    mapfile -t -O "${#env[@]}" env < <(p2pchat_unit_env_file "$file")
  done < <(p2pchat_unit_values EnvironmentFile)
  while IFS= read -r value; do
    name=${value%%:*}
    src=$(p2pchat_unit_expand "$instance" "${value#*:}")
    install -m 0400 "$src" "$creds/$name"
  done < <(p2pchat_unit_values LoadCredential)
  while IFS= read -r value; do
    env+=("$(p2pchat_unit_expand "$instance" "$value")")
  done < <(p2pchat_unit_values Environment)
  exec_start=$(p2pchat_unit_values ExecStart)
  read -r -a argv <<<"$(p2pchat_unit_expand "$instance" "$exec_start")"
  argv[0]=$SIGNALING_SERVER_BIN
  limit=$(p2pchat_unit_values LimitNOFILE)
  (
    # systemd (PID 1) may raise the hard limit; a container without CAP_SYS_RESOURCE (this one, a Docker CI
    # job) may not, and then the server runs with the limit it has, which a test of a few clients never hits.
    if [[ -n "$limit" ]] && ! ulimit -n "$limit" 2>/dev/null; then
      echo "unit.sh: LimitNOFILE=$limit not applied: this environment's hard limit is $(ulimit -Hn) and it may not raise it" >&2
      ulimit -n "$(ulimit -Hn)"
    fi
    exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${env[@]}" "${argv[@]}"
  ) >>"$P2PCHAT_STATE/$instance.log" 2>&1 &
  echo $! >"$P2PCHAT_STATE/$instance.pid"
}

# p2pchat_unit_stop INSTANCE: as systemd's stop: KillSignal (SIGTERM), then SIGKILL after TimeoutStopSec.
p2pchat_unit_stop() {
  local pidfile="$P2PCHAT_STATE/$1.pid" pid signal timeout
  [[ -f "$pidfile" ]] || return 0
  pid=$(<"$pidfile")
  signal=$(p2pchat_unit_values KillSignal)
  timeout=$(p2pchat_unit_values TimeoutStopSec)
  kill "-${signal:-SIGTERM}" "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
  for _ in $(seq $((${timeout:-90} * 10))); do
    p2pchat_unit_alive "$pid" || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  echo "unit.sh: instance $1 (pid $pid) still running after TimeoutStopSec=${timeout:-90}: SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}
