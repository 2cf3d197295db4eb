#!/usr/bin/env bash
# derp-client's contract as a script sees it: key files, output lines, exit codes, errors. Against a throw-away
# derper on loopback. Used by ctest (example_derp_client).
#   scripts/run-derp-client-test.sh BIN_DIR
set -uo pipefail
bin=$1
client="$bin/derp-client"
source "$(dirname "${BASH_SOURCE[0]}")/loopback-derper.sh"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; stop_loopback_derper; rm -rf "$work"; }
trap cleanup EXIT
failures=0
check() {  # check "what" expected_status actual_status
  if [ "$2" != "$3" ]; then echo "FAIL: $1: exit $3, expected $2"; failures=$((failures + 1)); else echo "ok: $1"; fi
}
wait_connected() { for _ in $(seq 100); do grep -q connected "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

start_loopback_derper "$bin/derper" || exit 1
url="http://127.0.0.1:$derp_port/derp"

# pubkey creates the key file once (derper's JSON form, mode 0600) and prints the same key after.
k1=$("$client" --key-file "$work/a.json" pubkey); check "pubkey creates a key file" 0 $?
k2=$("$client" --key-file "$work/a.json" pubkey)
[ "$k1" = "$k2" ] && [[ "$k1" =~ ^nodekey:[0-9a-f]{64}$ ]]; check "pubkey is stable and well-formed" 0 $?
grep -q '"PrivateKey": "privkey:' "$work/a.json"; check "key file is derper's JSON" 0 $?
[ "$(stat -c %a "$work/a.json")" = 600 ]; check "key file mode 0600" 0 $?
b=$("$client" --key-file "$work/b.json" pubkey)

# recv prints "<src> <payload>": text when printable, hex: otherwise.
"$client" --server "$url" --key-file "$work/b.json" recv --count 2 --timeout 10 >"$work/recv.out" 2>"$work/recv.err" &
pids+=($!)
wait_connected "$work/recv.err"; check "recv connects" 0 $?
"$client" --server "$url" --key-file "$work/a.json" send "$b" "plain text" 2>/dev/null; check "send text" 0 $?
"$client" --server "$url" --key-file "$work/a.json" send "$b" "hex:00ff10" 2>/dev/null; check "send hex" 0 $?
wait "${pids[-1]}"; check "recv ends after --count packets" 0 $?
printf '%s plain text\n%s hex:00ff10\n' "$k1" "$k1" | diff - "$work/recv.out"; check "recv output lines" 0 $?

# Timeouts: recv with nothing to read, send --wait-reply with nobody answering.
"$client" --server "$url" recv --count 1 --timeout 0.5 2>/dev/null; check "recv times out with exit 1" 1 $?
"$client" --server "$url" send "$b" "anyone?" --wait-reply --timeout 0.5 2>/dev/null
check "send --wait-reply times out with exit 1" 1 $?

# ping prints one round trip per line.
[ "$("$client" --server "$url" ping --count 2 2>/dev/null | grep -c '^ping [12]: rtt [0-9.]* ms$')" = 2 ]
check "ping prints two round trips" 0 $?

# Errors: usage 2, unreachable 3, bad TLS 3.
"$client" 2>/dev/null; check "no command is a usage error" 2 $?
"$client" --server "$url" frobnicate 2>/dev/null; check "unknown command" 2 $?
"$client" --server "ftp://127.0.0.1/" ping 2>/dev/null; check "bad URL" 2 $?
"$client" --server "$url" send nodekey:1234 hi 2>/dev/null; check "bad NODEKEY" 2 $?
"$client" --server "$url" send "$b" hex:abc 2>/dev/null; check "odd hex payload" 2 $?
echo '{"PrivateKey":"nope"}' >"$work/bad.json"
"$client" --server "$url" --key-file "$work/bad.json" ping 2>/dev/null; check "bad key file" 2 $?
"$client" --derpmap "$work/missing.json" --region 1 ping 2>/dev/null; check "missing DERPMap" 2 $?
"$client" --server "http://127.0.0.1:1/derp" --connect-timeout 3 ping 2>"$work/refused.err"
check "unreachable server exits 3" 3 $?
grep -q "refused" "$work/refused.err"; check "unreachable server says refused" 0 $?
# TLS to a plain-HTTP port: derper answers the ClientHello with a plain 400 at once, and the client says the
# server speaks plain HTTP. --connect-timeout 30 is far longer than the answer takes: a client that waited for
# the timeout instead would fail the message check below (its message names the timeout, not the HTTP answer).
"$client" --server "https://127.0.0.1:$derp_port/derp" --insecure --connect-timeout 30 ping 2>"$work/tls.err"
check "TLS to a plain port exits 3" 3 $?
grep -q 'plain text, not TLS: "HTTP/1.1 400 Bad Request"' "$work/tls.err"; check "the plain-HTTP answer is named" 0 $?
grep -q 'use an http:// URL' "$work/tls.err"; check "the fix is suggested" 0 $?
# A malformed sha256-raw pin is a usage error, found before dialling.
"$client" --server "https://127.0.0.1:$derp_port/derp" --cert-name sha256-raw:12 ping 2>"$work/pin.err"
check "malformed --cert-name pin exits 2" 2 $?
grep -q 'is not sha256-raw: followed by 64 hex digits' "$work/pin.err"; check "malformed pin is named" 0 $?
"$client" --server "https://127.0.0.1:$derp_port/derp" --cert-name "sha256-raw:$(printf 'g%.0s' $(seq 64))" ping \
  2>/dev/null
check "non-hex --cert-name pin exits 2" 2 $?
# A key file in a directory that does not exist: refused, and no directory is made.
"$client" --key-file "$work/no/such/dir/me.json" pubkey 2>"$work/dir.err"; check "key file in a missing dir" 2 $?
[ ! -e "$work/no" ]; check "no directory created for --key-file" 0 $?
grep -q "does not exist" "$work/dir.err"; check "missing directory is named" 0 $?
# --help is a manual page on stdout (exit 0); --version names the library's version.
"$client" --help >"$work/help.out" 2>&1; check "--help exits 0" 0 $?
for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS "EXIT STATUS"; do
  grep -qx "$section" "$work/help.out"; check "--help has $section" 0 $?
done
[[ "$("$client" --version)" =~ ^[0-9]+\.[0-9]+\.[0-9]+\ \(libderp\ derp-client\)$ ]]; check "--version" 0 $?

# A DERPMap region: first node refused, second is derper (plain HTTP as derper -dev serves).
cat >"$work/map.json" <<JSON
{"Regions":{"900":{"RegionID":900,"RegionCode":"lo","Nodes":[
  {"Name":"900a","RegionID":900,"HostName":"127.0.0.1","IPv4":"127.0.0.1","IPv6":"none","DERPPort":1},
  {"Name":"900b","RegionID":900,"HostName":"127.0.0.1","IPv4":"127.0.0.1","IPv6":"none","DERPPort":$derp_port}]}}}
JSON
"$client" --derpmap "$work/map.json" --region 900 --plain-http ping --count 1 >/dev/null 2>&1
check "DERPMap region falls over to its second node" 0 $?
"$client" --derpmap "$work/map.json" --region 7 ping 2>/dev/null; check "unknown region" 2 $?

echo "$failures failure(s)"
[ "$failures" = 0 ]
