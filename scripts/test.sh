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

# The summary, one line per stage, then the one closing line CI parsers read (`total: N passed, 0 failed`). The
# gcc and the sanitizer stages run the same tests twice (the sanitizer stage adds the fuzz runs and leaves out the
# packaging tests), so the total counts test runs, not distinct tests. A failure in any stage has already stopped
# the script (pipefail).
ctest_passed() { sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$1" | tail -n1; }
gcc=$(ctest_passed "$root/build/test-gcc/ctest.out")
san=$(ctest_passed "$root/build/test-sanitize/ctest.out")
py=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' "$root/build/test-gcc/pytest.out" | tail -n1)
gcc=${gcc:-0} san=${san:-0} py=${py:-0}
echo
echo "stage 1/3 gcc:               ${gcc} ctest tests passed, 0 failed"
echo "stage 2/3 clang ASan+UBSan:  ${san} ctest tests passed, 0 failed (the same tests again, plus fuzzing)"
echo "stage 3/3 Python:            ${py} pytest tests passed, 0 failed"
echo "total: $((gcc + san + py)) passed, 0 failed (test runs over the three stages: ${gcc} + ${san} + ${py})"
