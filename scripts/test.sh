#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, run every test.
#   1. gcc, warnings as errors: unit, vector and integration tests, fuzz seeds replayed.
#   2. clang-14 with ASan+UBSan and libFuzzer: the same tests under the sanitizers (except the ~80 s NAT lab, which
#      stage 1 runs), then each fuzz target for DERP_FUZZ_SECONDS seconds (default 5: a smoke run that keeps the
#      targets building and starting; long fuzzing is done outside CI, see docs/fuzzing in the README).
#   3. clang-14 with ThreadSanitizer: only the tests that run a library thread (the client in thread mode, the uv
#      server on its own thread, the direct path in thread mode, cross-thread sends), matched by name below.
#   4. Python tests (bindings/python/tests) with pytest, when there are any.
# DERP_TESTDATA points at the golden vectors (default: ../shared/testdata beside the checkout); tests that need
# them report themselves skipped when the folder is absent.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)
fuzz_seconds=${DERP_FUZZ_SECONDS:-5}

"$root/scripts/install-deps.sh" test

echo "== 1/4 gcc build (warnings as errors)"
cmake -S "$root" -B "$root/build/test-gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDERP_WERROR=ON >/dev/null
cmake --build "$root/build/test-gcc" -j"$jobs"
ctest --test-dir "$root/build/test-gcc" --output-on-failure -j"$jobs" | tee "$root/build/test-gcc/ctest.out"

echo "== 2/4 clang-14 build with ASan+UBSan and libFuzzer (${fuzz_seconds}s per fuzz target)"
cmake -S "$root" -B "$root/build/test-sanitize" -DCMAKE_BUILD_TYPE=Debug -DDERP_WERROR=ON \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DDERP_FUZZ=ON -DDERP_BUILD_BENCH=OFF \
  -DDERP_NAT_LAB=OFF -DDERP_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build "$root/build/test-sanitize" -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build/test-sanitize" --output-on-failure -j"$jobs" | tee "$root/build/test-sanitize/ctest.out"

echo "== 3/4 clang-14 ThreadSanitizer (threaded tests only)"
# Only what the stage needs, to keep a cold CI build short: library + unit tests, no examples/bench/fuzz/packaging.
cmake -S "$root" -B "$root/build/test-tsan" -DCMAKE_BUILD_TYPE=Debug -DDERP_WERROR=ON \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DDERP_SANITIZE_THREAD=ON -DDERP_FUZZ=OFF \
  -DDERP_BUILD_EXAMPLES=OFF -DDERP_BUILD_BENCH=OFF -DDERP_PACKAGE_TESTS=OFF >/dev/null
cmake --build "$root/build/test-tsan" -j"$jobs" --target derp_unit_tests
# The tests with a second thread: derp_uv_client_start_thread / UvClient on lib/uv/loop_thread, the uv server's
# thread (derp_uv_server_start_thread), the direct path in thread mode, sends from another thread.
tsan_tests='thread|derp_client|derp_uv_client|uv C API|uv client'
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
  ctest --test-dir "$root/build/test-tsan" --output-on-failure -j"$jobs" -R "$tsan_tests" \
  | tee "$root/build/test-tsan/ctest.out"

echo "== 4/4 Python tests"
if compgen -G "$root/bindings/python/tests/test_*.py" >/dev/null; then
  # Debian's interpreter and python3-pytest, whatever python3 comes first on PATH (pyenv, venvs).
  DERP_LIBRARY="$root/build/test-gcc/libderp.so" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    "$root/bindings/python/tests" | tee "$root/build/test-gcc/pytest.out"
else
  echo "no Python tests found" | tee "$root/build/test-gcc/pytest.out"
fi

# The summary, one line per stage, then the one closing line CI parsers read (`total: N passed, 0 failed`). The
# gcc and the sanitizer stages run the same tests again (the ASan stage adds the fuzz runs and leaves out the
# packaging tests; the TSan stage reruns the threaded ones), so the total counts test runs, not distinct tests.
# A failure in any stage has already stopped the script (pipefail).
ctest_passed() { sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$1" | tail -n1; }
gcc=$(ctest_passed "$root/build/test-gcc/ctest.out")
san=$(ctest_passed "$root/build/test-sanitize/ctest.out")
tsan=$(ctest_passed "$root/build/test-tsan/ctest.out")
py=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' "$root/build/test-gcc/pytest.out" | tail -n1)
gcc=${gcc:-0} san=${san:-0} tsan=${tsan:-0} py=${py:-0}
echo
echo "stage 1/4 gcc:               ${gcc} ctest tests passed, 0 failed"
echo "stage 2/4 clang ASan+UBSan:  ${san} ctest tests passed, 0 failed (the same tests again, plus fuzzing)"
echo "stage 3/4 clang TSan:        ${tsan} ctest tests passed, 0 failed (the threaded tests again)"
echo "stage 4/4 Python:            ${py} pytest tests passed, 0 failed"
echo "total: $((gcc + san + tsan + py)) passed, 0 failed (test runs over the four stages: ${gcc} + ${san} + ${tsan} + ${py})"
