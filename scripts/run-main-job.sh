#!/usr/bin/env bash
# The README's main job: our derper (DERP + STUN) on loopback, and two derp-client processes, alice and bob,
# relaying through it, told in plain words. Used by scripts/demo.sh and, as a test, by ctest (example_main_job):
# every step checks its result and the script exits non-zero on the first that fails.
#   scripts/run-main-job.sh BIN_DIR      (holding derper, derp-client and stun-probe)
set -uo pipefail
bin=$1
client="$bin/derp-client"
source "$(dirname "${BASH_SOURCE[0]}")/loopback-derper.sh"
work=$(mktemp -d)
bob_pid=""
cleanup() {
  [ -n "$bob_pid" ] && kill "$bob_pid" 2>/dev/null
  stop_loopback_derper
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "!! $*" >&2; exit 1; }

start_loopback_derper "$bin/derper" || exit 1
url="http://127.0.0.1:$derp_port/derp"
echo "== derper is running on 127.0.0.1: DERP over HTTP on port $derp_port, STUN on UDP port $stun_port"
echo

echo "== 1. What is my public address? stun-probe asks derper's STUN server (Tailscale-style request):"
"$bin/stun-probe" "127.0.0.1:$stun_port" --timeout 3 | sed 's/^/   /' || fail "stun-probe got no answer"
echo

alice_key="$work/alice.json" bob_key="$work/bob.json"
alice=$("$client" --key-file "$alice_key" pubkey) || fail "no key for alice"
bob=$("$client" --key-file "$bob_key" pubkey) || fail "no key for bob"
echo "== 2. Two clients, each with a key file (derper's JSON form):"
echo "   alice is $alice"
echo "   bob   is $bob"
echo

# bob watches: every event he gets is one line in $work/bob.out; "connected" appears on his stderr.
"$client" --server "$url" --key-file "$bob_key" watch --timeout 20 >"$work/bob.out" 2>"$work/bob.err" &
bob_pid=$!
for _ in $(seq 100); do grep -q "connected" "$work/bob.err" 2>/dev/null && break; sleep 0.05; done
grep -q "connected" "$work/bob.err" || fail "bob did not connect: $(cat "$work/bob.err")"
echo "== 3. bob connects to $url and watches for events."
echo

echo "== 4. alice sends bob two packets through the relay, \"hello bob\" and \"hello again\" (each send is its own"
echo "   short connection):"
"$client" --server "$url" --key-file "$alice_key" send "$bob" "hello bob" 2>/dev/null || fail "alice's first send failed"
"$client" --server "$url" --key-file "$alice_key" send "$bob" "hello again" 2>/dev/null \
  || fail "alice's second send failed"
echo "   sent."
echo

echo "== 5. alice pings the server (DERP Ping/Pong frames):"
"$client" --server "$url" --key-file "$alice_key" ping --count 2 2>/dev/null | sed 's/^/   /' \
  || fail "alice's ping failed"
echo

# Each send above was its own connection; when each ended, derper told bob that alice (who had sent him packets)
# is gone: one PeerGone per connection of alice's, two here. Wait for both packets and both PeerGones.
for _ in $(seq 100); do
  packets=$(grep -c "^packet $alice" "$work/bob.out") gones=$(grep -c "^peer-gone $alice" "$work/bob.out")
  [ "$packets" -ge 2 ] && [ "$gones" -ge 2 ] && break
  sleep 0.05
done
kill -INT "$bob_pid" 2>/dev/null
wait "$bob_pid" 2>/dev/null
bob_pid=""
echo "== 6. What bob saw (one line per event):"
sed 's/^/   /' "$work/bob.out"
echo "   (two peer-gone lines: derper tells bob when a connection that sent him packets ends, and each of"
echo "   alice's two sends was a connection of its own)"
grep -q "^packet $alice hello bob$" "$work/bob.out" || fail "bob did not get \"hello bob\" from alice"
grep -q "^packet $alice hello again$" "$work/bob.out" || fail "bob did not get \"hello again\" from alice"
[ "$(grep -c "^peer-gone $alice disconnected$" "$work/bob.out")" = 2 ] ||
  fail "bob was not told twice that alice left (once per connection of hers)"
echo

echo "== 7. Both ways: bob now echoes every packet back; alice sends and waits for the reply:"
"$client" --server "$url" --key-file "$bob_key" echo --count 1 >/dev/null 2>"$work/bob-echo.err" &
bob_pid=$!
for _ in $(seq 100); do grep -q "connected" "$work/bob-echo.err" 2>/dev/null && break; sleep 0.05; done
reply=$("$client" --server "$url" --key-file "$alice_key" send "$bob" "are you there, bob?" --wait-reply \
          --timeout 5 2>/dev/null) || fail "alice got no reply from bob"
echo "   alice got back: $reply"
[ "$reply" = "$bob are you there, bob?" ] || fail "the reply is not bob's echo"
wait "$bob_pid" || fail "bob's echo did not finish cleanly"
bob_pid=""
echo

echo "== 8. The direct path (--direct): every connection starts on DERP and moves to a direct UDP path as soon as"
echo "   one works (Tailscale's disco: CallMeMaybe over DERP, Ping/Pong over UDP). Each client's one UDP socket"
echo "   asks derper's STUN server for its public address and carries disco and data. bob echoes 10 packets;"
echo "   alice sends 10, 300 ms apart, and prints each reply with the path it came back on:"
"$client" --server "$url" --key-file "$bob_key" --direct --stun "localhost:$stun_port" echo --count 10 \
  >"$work/bob-direct.out" 2>"$work/bob-direct.err" &
bob_pid=$!
for _ in $(seq 100); do grep -q "connected" "$work/bob-direct.err" 2>/dev/null && break; sleep 0.05; done
grep -q "connected" "$work/bob-direct.err" || fail "bob (direct) did not connect: $(cat "$work/bob-direct.err")"
"$client" --server "$url" --key-file "$alice_key" --direct --stun "127.0.0.1:$stun_port" \
  send "$bob" "hello over the best path" --count 10 --interval-ms 300 --wait-reply --timeout 15 \
  >"$work/alice-direct.out" 2>"$work/alice-direct.err" || fail "alice (direct) did not get 10 replies: $(cat "$work/alice-direct.err")"
wait "$bob_pid" || fail "bob's direct echo did not finish cleanly"
bob_pid=""
sed 's/^/   /' "$work/alice-direct.out"
replies=$(grep -c " via " "$work/alice-direct.out")
[ "$replies" = 10 ] || fail "alice got $replies replies, not 10"
first=$(grep " via " "$work/alice-direct.out" | head -1)
last=$(grep " via " "$work/alice-direct.out" | tail -1)
path_line=$(grep "^path $bob direct " "$work/alice-direct.out" | head -1)
[ "${first% via *}" = "$bob hello over the best path" ] || fail "the first reply is not bob's echo"
[ "${first##* via }" = derp ] || fail "the first reply did not come through the relay: $first"
[ -n "$path_line" ] || fail "alice never reported a direct path to bob"
[ "${last##* via }" = direct ] || fail "the last reply did not come direct: $last"
took=$(sed -n 's/.*direct path to .* \([0-9.]*\) ms after the first packet.*/\1/p' "$work/alice-direct.err" | head -1)
echo "   The first packet went through the relay (via derp) while the path was found; after ${took:-?} ms"
echo "   alice's client reported \"${path_line% rtt *}\" (rtt ${path_line##* rtt } ms), and the"
echo "   next packets went straight over UDP (via direct). On loopback both sides are reachable, so it always"
echo "   upgrades; behind two hard NATs it would have stayed on DERP, with data flowing all along."
echo
echo "== Done: STUN answered, two clients relayed packets both ways through derper, bob was told when alice"
echo "   left, and the same two clients moved from the relay to a direct path."
