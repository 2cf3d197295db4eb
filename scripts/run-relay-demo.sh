#!/usr/bin/env bash
# Starts derper on loopback (ports picked by the kernel, throw-away key), runs derp-relay-demo against it, prints
# what derper logged, and stops it. Used by scripts/demo.sh and, as a test, by ctest.
#   scripts/run-relay-demo.sh PATH/TO/derper PATH/TO/derp-relay-demo
set -uo pipefail
derper=$1
relay_demo=$2
log=$(mktemp)
"$derper" -dev -a 127.0.0.1:0 -stun-port 0 >"$log" 2>&1 &
derper_pid=$!
trap 'kill -INT $derper_pid 2>/dev/null; wait $derper_pid 2>/dev/null; rm -f "$log"' EXIT

derp_port="" stun_port=""
for _ in $(seq 100); do
  derp_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
  stun_port=$(sed -n 's/.*STUN on UDP 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
  [ -n "$derp_port" ] && [ -n "$stun_port" ] && break
  sleep 0.1
done
if [ -z "$derp_port" ] || [ -z "$stun_port" ]; then
  echo "derper did not start:" >&2
  cat "$log" >&2
  exit 1
fi

echo "== derper is running on 127.0.0.1: DERP over HTTP on port $derp_port, STUN on UDP port $stun_port"
echo
status=0
"$relay_demo" 127.0.0.1 "$derp_port" "$stun_port" || status=$?
sleep 0.2
echo
echo "== what derper logged:"
sed 's/^/   /' "$log"
exit $status
