#!/usr/bin/env bash
# Test for examples/stun_probe.c: starts derper on loopback (ports picked by the kernel, throw-away key), probes its
# STUN port with Tailscale's request and with a plain RFC 8489 one, probes a UDP port nobody listens on, runs the
# --derpmap netcheck (table and --json) with a DERPMap written here, checks the usage errors, and stops derper on
# every path; also an empty DERPMap, unknown options, --help and --version. Run by ctest (example_stun_probe).
#   scripts/run-stun-probe-test.sh PATH/TO/derper PATH/TO/stun-probe
set -uo pipefail
derper=$1
probe=$2
out=$(mktemp)
maps=$(mktemp -d)
source "$(dirname "${BASH_SOURCE[0]}")/loopback-derper.sh"
trap 'stop_loopback_derper; rm -f "$out"; rm -rf "$maps"' EXIT
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
# 4. --derpmap: region 900 is derper's STUN port; region 901 is derper's TCP-only DERP port, which never answers
#    over UDP, so the run waits out its 1 s timeout and lists 901 without a latency.
region() { # ID CODE NAME PORT
  printf '"%s":{"RegionID":%s,"RegionCode":"%s","RegionName":"%s","Nodes":[{"Name":"%sa","RegionID":%s,' \
    "$1" "$1" "$2" "$3" "$1" "$1"
  printf '"HostName":"localhost","IPv4":"127.0.0.1","IPv6":"none","STUNPort":%s}]}' "$4"
}
printf '{"Regions":{%s,%s}}\n' "$(region 900 lo "Loopback derper" "$stun_port")" \
  "$(region 901 dead "Nothing on UDP" "$derp_port")" >"$maps/two.json"
printf '{"Regions":{%s}}\n' "$(region 901 dead "Nothing on UDP" "$derp_port")" >"$maps/dead.json"
echo '{"Regions": 5}' >"$maps/bad.json"

expect_line() { # REGEX WHAT
  grep -Eq "$1" "$out" || fail "stun-probe --derpmap: no line matching '$1' ($2)"
}
if run 0 --derpmap "$maps/two.json" --timeout 1; then
  expect_line '^UDP: +yes$' "UDP works"
  expect_line '^IPv4: +yes, public 127\.0\.0\.1:[0-9]+$' "public IPv4 is our loopback address"
  expect_line '^IPv6: +no, public -$' "no IPv6 probes"
  expect_line '^hard NAT: +unknown' "one server IP only"
  expect_line '^preferred region: 900 lo$' "home region"
  expect_line '^900 +lo +Loopback derper +[0-9]+\.[0-9]{3} ms +[0-9]+\.[0-9]{3} ms +- +\*$' "region 900 row"
  expect_line '^901 +dead +Nothing on UDP +- +- +-$' "region 901 row"
fi
if run 0 --derpmap="$maps/two.json" --timeout 1 --json; then
  expect_line '^\{"udp":true,"ipv4":true,"ipv6":false,"global_v4":"127\.0\.0\.1:[0-9]+","global_v6":null,' "JSON head"
  expect_line '"mapping_varies_by_dest_ip":null,"preferred_region":900,' "JSON NAT and home"
  expect_line '\{"region_id":900,"code":"lo","name":"Loopback derper","latency_ms":[0-9]+\.[0-9]{3},' "JSON region 900"
  expect_line '\{"region_id":901,"code":"dead","name":"Nothing on UDP","latency_ms":null,' "JSON region 901"
  if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["udp"] and len(r["regions"]) == 2' "$out" ||
      fail "stun-probe --json output is not the expected JSON"
  fi
fi
# Nothing answers: exit 1, UDP no, no home.
if run 1 --derpmap "$maps/dead.json" --timeout 0.5; then
  expect_line '^UDP: +no$' "UDP blocked"
  expect_line '^preferred region: none$' "no home"
fi

# A map without regions is a bad map, not "nothing answered": exit 2 and say so (no empty table).
echo '{"Regions":{}}' >"$maps/empty.json"
if run 2 --derpmap "$maps/empty.json" --timeout 0.5; then
  expect_line 'has no region to probe' "empty map named"
  grep -q '^REGION' "$out" && fail "stun-probe --derpmap on an empty map printed a table"
fi

# 5. Usage errors, bad files and a bad HOST exit 2.
run 2
# An unknown option is named as unknown, whether or not an argument follows it (which must not be taken as its
# value).
for args in "--bogus" "--bogus 127.0.0.1:$stun_port" "--bogus=1"; do
  # shellcheck disable=SC2086 # the words of $args are separate arguments
  if run 2 $args; then
    expect_line '^stun-probe: unknown option --bogus$' "unknown option with: $args"
    grep -q 'needs a value' "$out" && fail "stun-probe $args says 'needs a value'"
  fi
done
if run 2 --timeout; then expect_line '^stun-probe: --timeout needs a value$' "a known option without its value"; fi
# --help is a manual page on stdout; --version names the library's version.
if run 0 --help; then
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS'; do expect_line "^$section\$" "--help: $section"; done
fi
if run 0 --version; then expect_line '^[0-9]+\.[0-9]+\.[0-9]+ \(libderp stun-probe\)$' "--version"; fi
run 2 --derpmap /nonexistent
run 2 --derpmap "$maps/bad.json"
run 2 "127.0.0.1:$stun_port" --derpmap "$maps/two.json"
run 2 --derpmap "$maps/two.json" --software none
run 2 "127.0.0.1:$stun_port" --json
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
