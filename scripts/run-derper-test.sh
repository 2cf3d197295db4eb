#!/usr/bin/env bash
# derper's command-line contract: exit codes and messages of the flags a user gets wrong, the -c key file (with
# -dev too, never creating directories it was not asked to), --help as a manual page, -version. Used by ctest
# (example_derper). Every derper started here listens on 127.0.0.1 with kernel-chosen ports and is stopped.
#   scripts/run-derper-test.sh BIN_DIR        (derper and derp-client, which reads key files the same way)
set -uo pipefail
bin=$1
derper="$bin/derper"
client="$bin/derp-client"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && { kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$work"; }
trap cleanup EXIT
failures=0
check() {  # check "what" expected_status actual_status
  if [ "$2" != "$3" ]; then echo "FAIL: $1: exit $3, expected $2"; failures=$((failures + 1)); else echo "ok: $1"; fi
}
# run_derper ARGS...: derper bounded by `timeout` (a derper that starts by mistake cannot hang the test), its
# output in $work/out; returns its exit status.
run_derper() { timeout 10 "$derper" "$@" >"$work/out" 2>&1; }
# serve_derper ARGS...: starts derper in the background and waits for its "listening" line; 0 once it listens.
# Each run logs to a new file ($serve_log): the shell may look before the background job has opened its output,
# and must not find an earlier run's lines there.
serve_runs=0
serve_derper() {
  serve_runs=$((serve_runs + 1))
  serve_log=$work/serve-$serve_runs.log
  : >"$serve_log"
  "$derper" "$@" >"$serve_log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    grep -q 'listening on' "$serve_log" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$serve_log"
  return 1
}
# stop_derper: SIGINT (derper catches it from before it listens), which must stop it within 10 s; SIGKILL after.
stop_derper() {
  kill -INT "$pid" 2>/dev/null
  local stopped=1
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || { stopped=0; break; }
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  pid=""
  check "derper stops on SIGINT" 0 $stopped
}

# -certmode letsencrypt (and gcp): ACME is not implemented; refused as a flag, exit 2 (README), before any file.
run_derper -certmode letsencrypt -a 127.0.0.1:443 -c "$work/le.json"; check "-certmode letsencrypt exits 2" 2 $?
grep -q 'needs ACME' "$work/out"; check "-certmode letsencrypt says why" 0 $?
[ ! -e "$work/le.json" ]; check "-certmode letsencrypt creates no key file" 0 $?
run_derper -certmode gcp -a 127.0.0.1:443 -c "$work/le.json"; check "-certmode gcp exits 2" 2 $?

# -mesh-with: needs a mesh key (as derper), and each entry must be a host, host/ip or an http(s) URL.
run_derper -mesh-with derp2.example.com -dev; check "-mesh-with without a mesh key exits 2" 2 $?
grep -q 'requires -mesh-psk-file' "$work/out"; check "-mesh-with says it needs the mesh key" 0 $?
run_derper -mesh-with 'derp2.example.com/not-an-ip' -dev; check "-mesh-with with a bad entry exits 2" 2 $?
grep -q 'derp2.example.com/not-an-ip' "$work/out"; check "-mesh-with names the bad entry" 0 $?

# -dev with a -c that is not a key file: an error naming the file, not a silent throw-away key.
echo 'not a key' >"$work/bad.key"
run_derper -dev -a 127.0.0.1:0 -stun=false -c "$work/bad.key"; check "-dev -c bad.key exits 1" 1 $?
grep -q "bad.key is not a derper key file" "$work/out"; check "-dev -c bad.key names the file" 0 $?

# -dev with a good -c: the server runs with that key (derp-client reads the same file form).
want=$("$client" --key-file "$work/good.json" pubkey)
if serve_derper -dev -a 127.0.0.1:0 -stun=false -c "$work/good.json"; then
  grep -q "server key $want " "$serve_log"; check "-dev -c uses the key file" 0 $?
  stop_derper
else
  check "-dev -c good.json starts" 0 1
fi
# -dev with a -c that does not exist yet: created (mode 0600), then used.
if serve_derper -dev -a 127.0.0.1:0 -stun=false -c "$work/new.json"; then
  want=$("$client" --key-file "$work/new.json" pubkey)
  grep -q "server key $want " "$serve_log"; check "-dev -c creates and uses a new key file" 0 $?
  [ "$(stat -c %a "$work/new.json")" = 600 ]; check "the new key file has mode 0600" 0 $?
  stop_derper
else
  check "-dev -c new.json starts" 0 1
fi

# -c in a directory that does not exist: an error, and no directory appears (derper itself would MkdirAll).
run_derper -a 127.0.0.1:0 -stun=false -c "$work/no/such/dir/k.json"; check "-c in a missing directory exits 1" 1 $?
grep -q "the directory $work/no/such/dir does not exist" "$work/out"; check "the missing directory is named" 0 $?
[ ! -e "$work/no" ]; check "no directory was created" 0 $?

# Two derpers meshed on loopback: B dials A (and itself, which it notices), so a client on B reaches one on A.
export TAILSCALE_DERPER_MESH_KEY=6d6573682d6b65792d666f722d746573742d766563746f72732d303132333435
if serve_derper -dev -a 127.0.0.1:0 -stun=false; then
  pid_a=$pid
  port_a=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$serve_log" | head -1)
  if serve_derper -dev -a 127.0.0.1:0 -stun=false -mesh-with "http://127.0.0.1:$port_a/derp"; then
    log_b=$serve_log
    port_b=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$serve_log" | head -1)
    for _ in $(seq 100); do grep -q 'mesh(.*): connected' "$log_b" && break; sleep 0.05; done
    grep -q 'mesh(.*): connected' "$log_b"; check "-mesh-with: B's link to A connects" 0 $?
    "$client" --key-file "$work/mesh-recv.json" pubkey >"$work/mesh-recv.pub"
    timeout 10 "$client" --server "http://127.0.0.1:$port_a/derp" --key-file "$work/mesh-recv.json" recv --count 1 \
      >"$work/mesh-recv.out" 2>&1 &
    recv_pid=$!
    for _ in $(seq 100); do grep -q 'connected to' "$work/mesh-recv.out" && break; sleep 0.05; done
    # A's watch stream tells B about the receiver: wait for B's metrics to show one remote client.
    for _ in $(seq 100); do
      exec 3<>"/dev/tcp/127.0.0.1/$port_b" && printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 &&
        grep -q '^derp_clients_remote 1' <&3 && { exec 3>&-; break; }
      exec 3>&-
      sleep 0.05
    done
    timeout 5 "$client" --server "http://127.0.0.1:$port_b/derp" --key-file "$work/mesh-send.json" \
      send "$(cat "$work/mesh-recv.pub")" "through the mesh" >/dev/null 2>&1
    wait "$recv_pid"; check "-mesh-with: a packet sent on B arrives on A" 0 $?
    grep -q 'through the mesh' "$work/mesh-recv.out"; check "-mesh-with: the packet is intact" 0 $?
    stop_derper
  fi
  pid=$pid_a
  stop_derper
fi
unset TAILSCALE_DERPER_MESH_KEY

# Usage errors exit 2; --help (a manual page, on stdout) and -version exit 0.
run_derper -no-such-flag; check "an unknown flag exits 2" 2 $?
grep -q 'flag provided but not defined: -no-such-flag' "$work/out"; check "the unknown flag is named" 0 $?
for bad in -replay-cache-keys=-1 -partial-frame-budget=x -fd-limit=-2; do
  run_derper -dev "$bad"; check "$bad exits 2" 2 $?
done
"$derper" --help >"$work/help.out" 2>"$work/help.err"; check "--help exits 0" 0 $?
for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS"; do
  grep -qx "$section" "$work/help.out"; check "--help has $section" 0 $?
done
[ ! -s "$work/help.err" ]; check "--help writes nothing to stderr" 0 $?
[[ "$("$derper" -version)" =~ ^[0-9]+\.[0-9]+\.[0-9]+\ \(libderp\ derper\)$ ]]; check "-version" 0 $?

echo "$failures failure(s)"
[ "$failures" = 0 ]
