#!/usr/bin/env bash
# Runs a command inside a new network namespace with only test addresses: loopback plus a veth pair
# 10.99.0.1/24 <-> 10.99.0.2/24 and a default route over it (without a default route Chromium gathers no
# ICE candidates). Nothing inside can reach a real network. Needs root.
set -euo pipefail
exec unshare -n bash -euo pipefail -c '
  ip link set lo up
  ip link add v0 type veth peer name v1
  ip addr add 10.99.0.1/24 dev v0
  ip addr add 10.99.0.2/24 dev v1
  ip link set v0 up
  ip link set v1 up
  ip route add default dev v0
  exec "$@"
' netns "$@"
