#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build (Release), then the main job: our derper (DERP + STUN)
# on loopback, and two clients (alice and bob) relaying through it, told in plain words.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install-deps.sh" build
build="$root/build/release"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDERP_BUILD_TESTS=OFF -DDERP_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target derper derp-relay-demo
echo
exec "$root/scripts/run-relay-demo.sh" "$build/examples/derper" "$build/examples/derp-relay-demo"
