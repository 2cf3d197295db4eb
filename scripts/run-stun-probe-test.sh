#!/usr/bin/env bash
# Test for examples/stun_probe.c: starts derper on loopback (ports picked by the kernel, throw-away key), probes its
# STUN port with Tailscale's request and with a plain RFC 8489 one, probes a UDP port nobody listens on, checks the
# usage errors, and stops derper on every path. Run by ctest (example_stun_probe).
#   scripts/run-stun-probe-test.sh PATH/TO/derper PATH/TO/stun-probe
set -uo pipefail
derper=$1
probe=$2
out=$(mktemp)
source "$(dirname "${BASH_SOURCE[0]}")/loopback-derper.sh"
trap 'stop_loopback_derper; rm -f "$out"' EXIT
start_loopback_derper "$derper" || { echo "FAIL: see above" >&2; exit 1; }
echo "== derper: DERP on TCP port $derp_port, STUN on UDP port $stun_port"

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run EXPECTED_STATUS ARGS...: runs stun-probe (bounded by `timeout`, so a hang cannot stall the test), leaves
# stdout+stderr in $out, and checks the exit status.
run() {
  local want=$1 status=0
  shift
  echo "-- stun-probe $*"
  timeout 20 "$probe" "$@" >"$out" 2>&1 || status=$?
  sed 's/^/   /' "$out"
  if [ "$status" -ne "$want" ]; then
    fail "stun-probe $* exited $status, expected $want"
    return 1
  fi
  return 0
}

# The endpoint derper saw must be our loopback address.
expect_endpoint() {
  if ! grep -Eq "^public endpoint 127\.0\.0\.1:[0-9]+ \(rtt [0-9.]+ ms\) from 127\.0\.0\.1:$stun_port\$" "$out"; then
    fail "stun-probe $* did not print 'public endpoint 127.0.0.1:PORT (rtt X ms) from 127.0.0.1:$stun_port'"
  fi
}

# 1. Tailscale's 40-byte request (the default), which derper requires.
run 0 "127.0.0.1:$stun_port" && expect_endpoint default
# 2. A plain RFC 8489 request: no SOFTWARE, with FINGERPRINT.
run 0 "127.0.0.1:$stun_port" --software none && expect_endpoint --software none
run 0 "127.0.0.1:$stun_port" --software=tailnode --timeout 2 && expect_endpoint --software=tailnode
# 3. derper's DERP port is TCP only: no UDP listener there, so no answer, exit 1 within the 1 s timeout.
start=$(date +%s%N)
run 1 "127.0.0.1:$derp_port" --timeout 1
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
if [ "$elapsed_ms" -gt 3000 ]; then
  fail "probe of a closed port took ${elapsed_ms} ms with --timeout 1"
fi
# 4. Usage errors and a bad HOST exit 2.
run 2
run 2 "127.0.0.1:$stun_port" --derpmap /nonexistent
grep -q -- "--derpmap is not supported yet" "$out" || fail "--derpmap message missing"
run 2 "127.0.0.1:$stun_port" --software other
run 2 "127.0.0.1:$stun_port" --timeout 0
run 2 "127.0.0.1:99999"
run 2 "[::1"
run 2 "no-such-host.invalid"

if [ "$failures" -ne 0 ]; then
  echo "== $failures check(s) failed; derper logged:" >&2
  sed 's/^/   /' "$derper_log" >&2
  exit 1
fi
echo "== all stun-probe checks passed"
exit 0
