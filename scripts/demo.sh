#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build (Release), run the main demo.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install-deps.sh" build
build="$root/build/release"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDERP_BUILD_TESTS=OFF -DDERP_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target derp-demo
echo
exec "$build/examples/derp-demo"
