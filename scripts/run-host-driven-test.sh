#!/usr/bin/env bash
# Starts derper -dev on loopback, runs derp-host-driven (examples/host_driven.c) against it, prints what derper
# logged, and stops it. Used by ctest (example_host_driven).
#   scripts/run-host-driven-test.sh PATH/TO/derper PATH/TO/derp-host-driven
set -uo pipefail
host_driven=$2
source "$(dirname "${BASH_SOURCE[0]}")/loopback-derper.sh"
trap stop_loopback_derper EXIT
start_loopback_derper "$1" || exit 1

echo "== derper is running on 127.0.0.1: DERP over HTTP on port $derp_port"
echo
status=0
"$host_driven" "http://127.0.0.1:$derp_port/derp" || status=$?
sleep 0.2
echo
echo "== what derper logged:"
sed 's/^/   /' "$derper_log"
exit $status
