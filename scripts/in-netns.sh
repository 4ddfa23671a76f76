#!/usr/bin/env bash
# Runs a command inside a fresh, private network namespace with only loopback up and
# multicast routed to it, so that nothing it sends can leave this machine.
#   bash scripts/in-netns.sh <command...>
set -euo pipefail
if [ "$#" -eq 0 ]; then echo "usage: in-netns.sh <command...>" >&2; exit 2; fi
exec unshare -n -- bash -c 'set -e; ip link set lo up; ip route add 224.0.0.0/4 dev lo; ip -6 route add ff00::/8 dev lo table local 2>/dev/null || true; exec "$@"' in-netns "$@"
