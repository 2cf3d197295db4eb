#!/usr/bin/env bash
# Starts derper on loopback, runs derp-relay-demo against it, prints what derper logged, and stops it. Used by
# scripts/demo.sh and, as a test, by ctest (example_relay_demo).
#   scripts/run-relay-demo.sh PATH/TO/derper PATH/TO/derp-relay-demo
set -uo pipefail
relay_demo=$2
source "$(dirname "${BASH_SOURCE[0]}")/loopback-derper.sh"
trap stop_loopback_derper EXIT
start_loopback_derper "$1" || exit 1

echo "== derper is running on 127.0.0.1: DERP over HTTP on port $derp_port, STUN on UDP port $stun_port"
echo
status=0
"$relay_demo" 127.0.0.1 "$derp_port" "$stun_port" || status=$?
sleep 0.2
echo
echo "== what derper logged:"
sed 's/^/   /' "$derper_log"
exit $status
