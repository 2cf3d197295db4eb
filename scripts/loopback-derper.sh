# Sourced by scripts that need a throw-away derper on loopback (the relay demo, the stun-probe test):
#   start_loopback_derper PATH/TO/derper   → sets derper_pid, derper_log, derp_port, stun_port; returns 1 if it
#                                             did not start (its log is printed)
#   stop_loopback_derper                   → SIGINT, up to 5 s to shut down cleanly, then SIGKILL; removes the log
# Ports are picked by the kernel, so nothing else on the machine is in the way; the key is thrown away.

start_loopback_derper() {
  derper_log=$(mktemp)
  "$1" -dev -a 127.0.0.1:0 -stun-port 0 >"$derper_log" 2>&1 &
  derper_pid=$!
  derp_port="" stun_port=""
  for _ in $(seq 100); do
    derp_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$derper_log" | head -n1)
    stun_port=$(sed -n 's/.*STUN on UDP 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$derper_log" | head -n1)
    [ -n "$derp_port" ] && [ -n "$stun_port" ] && return 0
    sleep 0.1
  done
  echo "derper did not start:" >&2
  cat "$derper_log" >&2
  return 1
}

stop_loopback_derper() {
  [ -n "${derper_pid:-}" ] || return 0
  kill -INT "$derper_pid" 2>/dev/null
  for _ in $(seq 50); do
    kill -0 "$derper_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$derper_pid" 2>/dev/null
  wait "$derper_pid" 2>/dev/null
  rm -f "$derper_log"
  derper_pid=""
}
