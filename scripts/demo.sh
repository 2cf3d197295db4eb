#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build (Release), then the main job: our derper (DERP + STUN)
# on loopback, stun-probe asking its STUN server for our public address, and two derp-client processes (alice and
# bob) relaying through it both ways, told in plain words (scripts/run-main-job.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install-deps.sh" build
build="$root/build/release"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDERP_BUILD_TESTS=OFF -DDERP_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target derper derp-client stun-probe
echo
exec "$root/scripts/run-main-job.sh" "$build/examples"
