#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, run every test.
#   1. gcc, warnings as errors: unit, vector and integration tests, fuzz seeds replayed.
#   2. clang-14 with ASan+UBSan and libFuzzer: the same tests under the sanitizers, then each fuzz target for
#      DERP_FUZZ_SECONDS seconds (default 15).
#   3. Python tests (bindings/python/tests) with pytest, when there are any.
# DERP_TESTDATA points at the golden vectors (default: ../shared/testdata beside the checkout); tests that need
# them report themselves skipped when the folder is absent.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)
fuzz_seconds=${DERP_FUZZ_SECONDS:-15}

"$root/scripts/install-deps.sh" test

echo "== 1/3 gcc build (warnings as errors)"
cmake -S "$root" -B "$root/build/test-gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDERP_WERROR=ON >/dev/null
cmake --build "$root/build/test-gcc" -j"$jobs"
ctest --test-dir "$root/build/test-gcc" --output-on-failure -j"$jobs" | tee "$root/build/test-gcc/ctest.out"

echo "== 2/3 clang-14 build with ASan+UBSan and libFuzzer (${fuzz_seconds}s per fuzz target)"
cmake -S "$root" -B "$root/build/test-sanitize" -DCMAKE_BUILD_TYPE=Debug -DDERP_WERROR=ON \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DDERP_FUZZ=ON -DDERP_BUILD_BENCH=OFF \
  -DDERP_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build "$root/build/test-sanitize" -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build/test-sanitize" --output-on-failure -j"$jobs" | tee "$root/build/test-sanitize/ctest.out"

echo "== 3/3 Python tests"
if compgen -G "$root/bindings/python/tests/test_*.py" >/dev/null; then
  # Debian's interpreter and python3-pytest, whatever python3 comes first on PATH (pyenv, venvs).
  DERP_LIBRARY="$root/build/test-gcc/libderp.so" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    "$root/bindings/python/tests" | tee "$root/build/test-gcc/pytest.out"
else
  echo "no Python tests found" | tee "$root/build/test-gcc/pytest.out"
fi

# One closing line over both ctest runs (a failure in either has already stopped the script: pipefail).
total=0
for out in "$root/build/test-gcc/ctest.out" "$root/build/test-sanitize/ctest.out"; do
  n=$(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$out" | tail -n1)
  total=$((total + ${n:-0}))
done
py=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' "$root/build/test-gcc/pytest.out" | tail -n1)
total=$((total + ${py:-0}))
echo
echo "total: ${total} passed, 0 failed (ctest gcc + ctest sanitizers + pytest ${py:-0})"
