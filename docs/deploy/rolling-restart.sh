#!/bin/sh
# Restarts signaling servers one at a time without dropping calls (docs/operations.md, "Rolling restart"):
#   rolling-restart.sh 1 2 3     # instances of p2pchat-signaling@.service
# Each stop drains: its clients are closed with 1001 and resume on the others (nobody sees them leave);
# the next server restarts only once this one answers /readyz again (nginx takes it back at once: its
# upstream has max_fails=0, see nginx/p2pchat.conf).
# P2PCHAT_ETC (default /etc/p2pchat) and SYSTEMCTL (default systemctl) exist for tests/deploy/run.sh, which
# runs this script where systemd does not.
set -eu
etc=${P2PCHAT_ETC:-/etc/p2pchat}
systemctl=${SYSTEMCTL:-systemctl}
for instance in "$@"; do
  metrics=$(sed -n 's/^SIGNALING_METRICS_BIND=//p' "$etc/signaling-$instance.env")
  echo "restarting signaling server $instance"
  "$systemctl" restart "p2pchat-signaling@$instance"
  ready=no
  for _ in $(seq 60); do
    if curl -fsS "http://$metrics/readyz" >/dev/null 2>&1; then ready=yes; break; fi
    sleep 1
  done
  if [ "$ready" != yes ]; then
    echo "signaling server $instance is not ready after 60 s; stopping here" >&2
    exit 1
  fi
done
