#!/usr/bin/env bash
# The NAT lab: real kernel NATs in network namespaces, and our derper + derp-client --direct across them.
#   scripts/nat-lab.sh BIN_DIR [CASE ...]     (BIN_DIR holds derper and derp-client; default: every case)
# Cases are SIDE_A-SIDE_B with each side one of
#   none     the client has a public address (it runs in its site's router namespace, no NAT)
#   easy     behind nftables `masquerade` (port-preserving: the same public port for every destination)
#   hard     behind `masquerade fully-random` (a new public port per destination; Linux filters by endpoint)
#   blocked  behind `masquerade`, and the router drops every UDP datagram
# and the case `cut`: easy-easy, 60 packets; 4 s in, router A drops UDP to and from site B (STUN still works), 12 s in
# the rule goes: the path must go direct → derp (within magicsock's trust window) → direct, replies continuing;
# and the case `netcheck`: stun-probe --derpmap (two regions, two server IPs) behind each NAT kind: the hard-NAT
# answer (mapping varies by destination IP) must be false behind easy and true behind hard.
# For each case alice (site A) sends bob (site B) 20 packets, 250 ms apart from the first second, and bob echoes
# them; every reply must come back, and the path must end direct (easy-easy, easy-none, hard-none) or stay on
# DERP (hard-hard, easy-hard, blocked-*). Exit 0 when every case held; 1 when one did not; and 0 with a line
# "DERP-SKIPPED: ..." when namespaces or nftables cannot be used here (not root, no nft, no netns).
#
# Topology (documentation addresses outside, 192.168.x inside; nothing is routed out of the namespaces):
#   inet: derper on 192.0.2.1 (DERP over HTTP + STUN), links 203.0.113.1/30 → router A, 198.51.100.1/30 → router B
#   router A: 203.0.113.2/30 outside, 192.168.1.1/24 inside (nft NAT)   lan A: 192.168.1.2/24 (alice)
#   router B: 198.51.100.2/30 outside, 192.168.2.1/24 inside            lan B: 192.168.2.2/24 (bob)
# Namespaces are named direct-<pid>-*, and every one is deleted on exit, also on failure (trap).
set -uo pipefail
bin=${1:?usage: nat-lab.sh BIN_DIR [CASE ...]}
shift
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(easy-easy easy-none none-easy hard-none none-hard hard-hard easy-hard hard-easy
                                  blocked-easy none-blocked cut netcheck)

skip() { echo "DERP-SKIPPED: NAT lab: $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null || skip "no ip (iproute2)"
command -v nft >/dev/null || skip "no nft (nftables): apt-get install nftables"
probe="direct-$$-probe"
ip netns add "$probe" 2>/dev/null || skip "cannot create a network namespace here"
ip netns exec "$probe" nft add table ip t 2>/dev/null || { ip netns del "$probe"; skip "nftables does not work in a namespace here"; }
ip netns del "$probe"

p="direct-$$"
inet="$p-inet" ra="$p-ra" rb="$p-rb" la="$p-la" lb="$p-lb"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for ns in "$la" "$lb" "$ra" "$rb" "$inet"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "!! $*" >&2; exit 1; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

for ns in "$inet" "$ra" "$rb" "$la" "$lb"; do ip netns add "$ns" || fail "cannot add $ns"; nsx "$ns" ip link set lo up; done
# inet ↔ routers, routers ↔ LANs
ip link add "$p-ia" netns "$inet" type veth peer name "$p-ai" netns "$ra" || fail "veth"
ip link add "$p-ib" netns "$inet" type veth peer name "$p-bi" netns "$rb" || fail "veth"
ip link add "$p-al" netns "$ra" type veth peer name "$p-la" netns "$la" || fail "veth"
ip link add "$p-bl" netns "$rb" type veth peer name "$p-lb" netns "$lb" || fail "veth"
nsx "$inet" ip addr add 192.0.2.1/32 dev lo
nsx "$inet" ip addr add 203.0.113.1/30 dev "$p-ia"
nsx "$inet" ip addr add 198.51.100.1/30 dev "$p-ib"
nsx "$ra" ip addr add 203.0.113.2/30 dev "$p-ai"
nsx "$rb" ip addr add 198.51.100.2/30 dev "$p-bi"
nsx "$ra" ip addr add 192.168.1.1/24 dev "$p-al"
nsx "$rb" ip addr add 192.168.2.1/24 dev "$p-bl"
nsx "$la" ip addr add 192.168.1.2/24 dev "$p-la"
nsx "$lb" ip addr add 192.168.2.2/24 dev "$p-lb"
for pair in "$inet:$p-ia" "$inet:$p-ib" "$ra:$p-ai" "$ra:$p-al" "$rb:$p-bi" "$rb:$p-bl" "$la:$p-la" "$lb:$p-lb"; do
  nsx "${pair%%:*}" ip link set "${pair#*:}" up
done
nsx "$ra" ip route add default via 203.0.113.1
nsx "$rb" ip route add default via 198.51.100.1
nsx "$la" ip route add default via 192.168.1.1
nsx "$lb" ip route add default via 192.168.2.1
for ns in "$inet" "$ra" "$rb"; do nsx "$ns" sysctl -qw net.ipv4.ip_forward=1; done
# inet has no route to 192.168.x: a LAN address pinged from the other site goes nowhere, as on the internet.

nsx "$inet" "$bin/derper" -dev -a 192.0.2.1:0 -stun-port 0 >"$work/derper.log" 2>&1 &
pids+=($!)
derp_port="" stun_port=""
for _ in $(seq 100); do
  derp_port=$(sed -n 's/.*listening on 192\.0\.2\.1:\([0-9]*\).*/\1/p' "$work/derper.log" | head -n1)
  stun_port=$(sed -n 's/.*STUN on UDP [^:]*:\([0-9]*\).*/\1/p' "$work/derper.log" | head -n1)
  [ -n "$derp_port" ] && [ -n "$stun_port" ] && break
  sleep 0.1
done
[ -n "$derp_port" ] && [ -n "$stun_port" ] || fail "derper did not start: $(cat "$work/derper.log")"
url="http://192.0.2.1:$derp_port/derp"
stun="192.0.2.1:$stun_port"
echo "== NAT lab: derper at $url, STUN at $stun"

# One site's router rules for a kind.
nat_rules() {
  local ns=$1 kind=$2 out=$3
  nsx "$ns" nft flush ruleset
  case "$kind" in
    none) ;;
    easy|blocked) nsx "$ns" nft add table ip nat
          nsx "$ns" nft add chain ip nat post '{ type nat hook postrouting priority 100 ; }'
          nsx "$ns" nft add rule ip nat post oifname "$out" masquerade ;;
    hard) nsx "$ns" nft add table ip nat
          nsx "$ns" nft add chain ip nat post '{ type nat hook postrouting priority 100 ; }'
          nsx "$ns" nft add rule ip nat post oifname "$out" masquerade fully-random ;;
  esac
  # The router itself answers nothing on its outside address, as a home router's firewall: an unsolicited UDP
  # datagram is dropped before conntrack confirms an entry for it. Without this, a peer's Ping that arrives before
  # our own first packet to that peer leaves a router-local conntrack entry on the very tuple our masquerade would
  # use, which then picks another port (a hard NAT by accident).
  if [ "$kind" != none ]; then
    nsx "$ns" nft add table ip fw
    nsx "$ns" nft add chain ip fw input '{ type filter hook input priority 0 ; }'
    nsx "$ns" nft add rule ip fw input iifname "$out" meta l4proto udp ct state new drop
  fi
  if [ "$kind" = blocked ]; then
    nsx "$ns" nft add table ip filter
    nsx "$ns" nft add chain ip filter forward_udp '{ type filter hook forward priority 0 ; }'
    nsx "$ns" nft add rule ip filter forward_udp meta l4proto udp drop
  fi
  nsx "$ns" conntrack -F >/dev/null 2>&1 || true
}

# The netcheck case: a second derper on 192.0.2.2, a DERPMap with both, stun-probe behind easy then hard.
run_netcheck() {
  nsx "$inet" ip addr add 192.0.2.2/32 dev lo
  nsx "$inet" "$bin/derper" -dev -a 192.0.2.2:0 -stun-port 0 >"$work/derper2.log" 2>&1 &
  pids+=($!)
  local d2="" s2=""
  for _ in $(seq 100); do
    d2=$(sed -n 's/.*listening on 192\.0\.2\.2:\([0-9]*\).*/\1/p' "$work/derper2.log" | head -n1)
    s2=$(sed -n 's/.*STUN on UDP [^:]*:\([0-9]*\).*/\1/p' "$work/derper2.log" | head -n1)
    [ -n "$d2" ] && [ -n "$s2" ] && break
    sleep 0.1
  done
  cat >"$work/map.json" <<JSON
{"Regions":{
 "901":{"RegionID":901,"RegionCode":"one","RegionName":"one","Nodes":[{"Name":"901a","RegionID":901,
   "HostName":"192.0.2.1","IPv4":"192.0.2.1","IPv6":"none","STUNPort":$stun_port,"DERPPort":$derp_port}]},
 "902":{"RegionID":902,"RegionCode":"two","RegionName":"two","Nodes":[{"Name":"902a","RegionID":902,
   "HostName":"192.0.2.2","IPv4":"192.0.2.2","IPv6":"none","STUNPort":$s2,"DERPPort":$d2}]}}}
JSON
  local kind want got
  for kind in easy hard; do
    nat_rules "$ra" "$kind" "$p-ai"
    want=false
    [ "$kind" = hard ] && want=true
    got=$(nsx "$la" "$bin/stun-probe" --derpmap "$work/map.json" --json --timeout 3 2>/dev/null |
          sed -n 's/.*"mapping_varies_by_dest_ip":\([a-z]*\).*/\1/p')
    if [ "$got" = "$want" ]; then
      printf "   %-13s behind %s NAT: hard NAT = %s, as expected\n" netcheck "$kind" "$got"
    else
      printf "   %-13s FAILED behind %s NAT: hard NAT = %s, expected %s\n" netcheck "$kind" "${got:-no answer}" "$want"
      failed=$((failed + 1))
    fi
  done
}

# The cut case: easy-easy with router A dropping UDP between the sites from 4 s to 12 s.
run_cut() {
  nat_rules "$ra" easy "$p-ai"
  nat_rules "$rb" easy "$p-bi"
  nsx "$lb" "$bin/derp-client" --server "$url" --key-file "$work/bob.json" --direct --stun "$stun" \
    echo --count 60 --timeout 30 >"$work/bob.out" 2>"$work/bob.err" &
  local bob_pid=$!
  pids+=($bob_pid)
  for _ in $(seq 100); do grep -q "connected" "$work/bob.err" 2>/dev/null && break; sleep 0.05; done
  local bob
  bob=$("$bin/derp-client" --key-file "$work/bob.json" pubkey)
  ( sleep 4; nsx "$ra" nft add table ip cut
    nsx "$ra" nft add chain ip cut forward_cut '{ type filter hook forward priority 0 ; }'
    nsx "$ra" nft add rule ip cut forward_cut ip daddr 198.51.100.2 meta l4proto udp drop
    nsx "$ra" nft add rule ip cut forward_cut ip saddr 198.51.100.2 meta l4proto udp drop
    sleep 8; nsx "$ra" nft delete table ip cut ) &
  local cutter=$!
  pids+=($cutter)
  nsx "$la" "$bin/derp-client" --server "$url" --key-file "$work/alice.json" --direct --stun "$stun" \
    send "$bob" "ping from alice" --count 60 --interval-ms 250 --wait-reply --timeout 25 \
    >"$work/alice.out" 2>"$work/alice.err"
  wait "$cutter" 2>/dev/null
  kill "$bob_pid" 2>/dev/null
  wait "$bob_pid" 2>/dev/null
  local changes replies after_derp last
  changes=$(grep "^path " "$work/alice.out" | awk '{print $3}' | tr '\n' ' ')
  replies=$(grep -c " via " "$work/alice.out")
  # replies that came after the fallback line and before the next direct line: data kept flowing on DERP
  after_derp=$(awk '/^path .* derp$/{d=1; next} /^path .* direct /{d=0} d && / via derp$/{n++} END{print n+0}' "$work/alice.out")
  last=$(grep " via " "$work/alice.out" | tail -1)
  if [ "$changes" = "direct derp direct " ] && [ "$after_derp" -gt 0 ] && [ "${last##* via }" = direct ]; then
    printf "   %-13s direct → derp when cut → direct when restored; %d of 60 replies arrived, %d via DERP while cut\n" \
      cut "$replies" "$after_derp"
  else
    printf "   %-13s FAILED: path changes \"%s\", %d replies, %d via DERP after the fallback, last: %s\n" cut \
      "$changes" "$replies" "$after_derp" "$last"
    failed=$((failed + 1))
  fi
}

failed=0
for c in "${cases[@]}"; do
  if [ "$c" = cut ]; then
    run_cut
    continue
  fi
  if [ "$c" = netcheck ]; then
    run_netcheck
    continue
  fi
  ka=${c%-*} kb=${c#*-}
  nat_rules "$ra" "$ka" "$p-ai"
  nat_rules "$rb" "$kb" "$p-bi"
  # Where each client runs: behind its NAT (the LAN namespace), or on the router's public address for "none".
  na=$la nb=$lb
  [ "$ka" = none ] && na=$ra
  [ "$kb" = none ] && nb=$rb
  expect=derp
  case "$c" in easy-easy|easy-none|none-easy|hard-none|none-hard|none-none) expect=direct ;; esac
  nsx "$nb" "$bin/derp-client" --server "$url" --key-file "$work/bob.json" --direct --stun "$stun" \
    echo --count 20 --timeout 30 >"$work/bob.out" 2>"$work/bob.err" &
  bob_pid=$!
  pids+=($bob_pid)
  for _ in $(seq 100); do grep -q "connected" "$work/bob.err" 2>/dev/null && break; sleep 0.05; done
  bob=$("$bin/derp-client" --key-file "$work/bob.json" pubkey)
  nsx "$na" "$bin/derp-client" --server "$url" --key-file "$work/alice.json" --direct --stun "$stun" \
    send "$bob" "ping from alice" --count 20 --interval-ms 250 --wait-reply --timeout 20 \
    >"$work/alice.out" 2>"$work/alice.err"
  rc=$?
  kill "$bob_pid" 2>/dev/null  # it has echoed all it will; do not wait for a count a lost packet never reaches
  wait "$bob_pid" 2>/dev/null
  replies=$(grep -c " via " "$work/alice.out")
  direct_replies=$(grep -c " via direct$" "$work/alice.out")
  last=$(grep " via " "$work/alice.out" | tail -1)
  path=$(grep "^path " "$work/alice.out" | tail -1)
  took=$(sed -n 's/.*direct path to .* \([0-9.]*\) ms after the first packet.*/\1/p' "$work/alice.err" | head -1)
  verdict=ok
  [ "$rc" = 0 ] && [ "$replies" = 20 ] || verdict="only $replies of 20 replies (exit $rc)"
  if [ "$verdict" = ok ]; then
    if [ "$expect" = direct ]; then
      [ "${last##* via }" = direct ] || verdict="expected direct, the last reply came ${last##* via }"
    else
      [ "$direct_replies" = 0 ] && [ -z "$path" ] || verdict="expected DERP only, got: $path"
    fi
  fi
  if [ "$verdict" = ok ]; then
    if [ "$expect" = direct ]; then
      printf "   %-13s direct after %s ms (%s), %d of 20 replies direct, all 20 arrived\n" "$c" "${took:-?}" \
        "${path#path * direct }" "$direct_replies"
    else
      printf "   %-13s stays on DERP, all 20 replies arrived via derp\n" "$c"
    fi
  else
    printf "   %-13s FAILED: %s\n" "$c" "$verdict"
    sed 's/^/      alice: /' "$work/alice.err" | tail -5
    failed=$((failed + 1))
  fi
done
[ "$failed" = 0 ] || fail "$failed NAT lab case(s) failed"
echo "== NAT lab: every case held"
