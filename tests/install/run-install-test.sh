#!/usr/bin/env bash
# Installs the current build into a temporary prefix (cmake --install) and builds tests/install/consumer.c against
# the installed tree four ways, running each program:
#   a. pkg-config --cflags --libs derp            libderp.so, found at run time through LD_LIBRARY_PATH
#   b. pkg-config --static --cflags --libs derp   libderp.a plus its private dependencies and the C++ runtime
#   c. CMake find_package(derp), derp::derp        libderp.so
#   d. CMake find_package(derp), derp::derp_static libderp.a; and examples/uv_embedded.c with derp::derp plus
#      libuv through pkg_check_modules (docs/embedding.md)
# then, as docs/embedding.md tells a user to:
#   e. examples/host_driven.c (pkg-config derp) and examples/uv_embedded.c (pkg-config derp libuv: it calls libuv
#      itself), linked with an rpath to the installed libdir; uv_embedded runs, and host_driven runs against the
#      installed derper when the build has the examples
# and, when the build has the examples (DERP_BUILD_EXAMPLES):
#   f. the installed tools bin/derper, bin/derp-client, bin/stun-probe: --help is a manual page (exit 0),
#      --version prints the installed header's version
# The temporary prefix is removed at the end, pass or fail.
# usage: run-install-test.sh BUILD_DIR [C_COMPILER] [CMAKE]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:?usage: $0 BUILD_DIR [C_COMPILER] [CMAKE]}
cc=${2:-cc}
cmake=${3:-cmake}
ctest_timeout=60

for tool in pkg-config readelf; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: $tool not found"
    exit 1
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/derp-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; exit 1; }

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
pc=$(find "$prefix" -name derp.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$pc" ] || fail "no derp.pc installed under $prefix"
libdir=$(dirname "$(dirname "$pc")")
for f in "$prefix/include/derp/derp.h" "$prefix/include/derp/common.h" "$libdir/libderp.so" "$libdir/libderp.a" \
         "$libdir/cmake/derp/derpConfig.cmake" \
         "$libdir/cmake/derp/derpConfigVersion.cmake" "$libdir/cmake/derp/derpTargets.cmake"; do
  [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
soname=$(readelf -d "$libdir/libderp.so" | sed -nE 's/.*\(SONAME\).*\[(.*)\].*/\1/p')
[ -e "$libdir/$soname" ] || fail "the SONAME link $soname is not installed"
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sed 's|^\./||' | sort | tr '\n' ' ')"

cflags=(-std=c11 -Wall -Wextra -Werror)
export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}

# Runs a built consumer; $2 says whether it must need libderp.so (shared) or must not (static).
run() {
  local exe=$1 kind=$2 needed
  needed=$(readelf -d "$exe" | sed -nE 's/.*\(NEEDED\).*\[(.*)\].*/\1/p' | tr '\n' ' ')
  case "$kind" in
    shared) [[ " $needed" == *" $soname "* ]] || fail "$exe does not link $soname (NEEDED: $needed)" ;;
    static) [[ " $needed" != *" libderp.so"* ]] || fail "$exe links libderp.so although built static (NEEDED: $needed)" ;;
  esac
  LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} timeout "$ctest_timeout" "$exe" ||
    fail "$exe exited with status $?"
  if [ "$kind" = shared ]; then
    resolved=$(LD_LIBRARY_PATH=$libdir ldd "$exe" | awk -v s="$soname" '$1 == s { print $3 }')
    [ "$resolved" -ef "$libdir/$soname" ] || fail "$exe ran with $resolved instead of the installed $libdir/$soname"
  fi
}

step "a. pkg-config, shared: $cc consumer.c $(pkg-config --cflags --libs derp)"
# shellcheck disable=SC2046 # word splitting of pkg-config's output is intended
"$cc" "${cflags[@]}" "$here/consumer.c" -o "$tmp/consumer-pc-shared" $(pkg-config --cflags --libs derp)
run "$tmp/consumer-pc-shared" shared

static_libs=$(pkg-config --static --libs derp | sed -E "s#(^| )-lderp( |$)#\1$libdir/libderp.a\2#")
step "b. pkg-config --static: $cc consumer.c $(pkg-config --static --cflags derp) $static_libs"
# shellcheck disable=SC2046,SC2086
"$cc" "${cflags[@]}" "$here/consumer.c" -o "$tmp/consumer-pc-static" $(pkg-config --static --cflags derp) $static_libs
run "$tmp/consumer-pc-static" static

step "c+d. CMake: find_package(derp) with derp::derp and derp::derp_static (a C-only project)"
mkdir -p "$tmp/cmake-consumer"
cat >"$tmp/cmake-consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(derp_consumer LANGUAGES C)
find_package(derp 0 REQUIRED CONFIG)
message(STATUS "derp \${derp_VERSION} from \${derp_DIR}")
add_executable(consumer_shared "$here/consumer.c")
target_link_libraries(consumer_shared PRIVATE derp::derp)
add_executable(consumer_static "$here/consumer.c")
target_link_libraries(consumer_static PRIVATE derp::derp_static)
foreach(t consumer_shared consumer_static)
  target_compile_options(\${t} PRIVATE ${cflags[*]})
endforeach()
# docs/embedding.md: a program that calls libuv itself links it too.
find_package(PkgConfig REQUIRED)
pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
add_executable(uv_embedded "$src/examples/uv_embedded.c")
target_link_libraries(uv_embedded PRIVATE derp::derp PkgConfig::UV)
CMAKE
"$cmake" -S "$tmp/cmake-consumer" -B "$tmp/cmake-consumer/build" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON >"$tmp/cmake.log" 2>&1 ||
  { cat "$tmp/cmake.log"; fail "configuring the find_package(derp) project"; }
grep -- '-- derp ' "$tmp/cmake.log" || true
"$cmake" --build "$tmp/cmake-consumer/build" -- VERBOSE=1 >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "building the find_package(derp) project"; }
grep -E -- '-o consumer_(shared|static) ' "$tmp/build.log" | sed "s|$tmp|\$TMP|g" || true
step "c. derp::derp"
run "$tmp/cmake-consumer/build/consumer_shared" shared
step "d. derp::derp_static"
run "$tmp/cmake-consumer/build/consumer_static" static
step "d. examples/uv_embedded.c with derp::derp and PkgConfig::UV"
run "$tmp/cmake-consumer/build/uv_embedded" shared >"$tmp/uv_embedded-cmake.out" 2>&1 ||
  { cat "$tmp/uv_embedded-cmake.out"; exit 1; }
tail -n 1 "$tmp/uv_embedded-cmake.out"

with_examples=0
grep -q '^DERP_BUILD_EXAMPLES:BOOL=ON$' "$build/CMakeCache.txt" && with_examples=1

# e. The examples with docs/embedding.md's build lines, run through the rpath alone (no LD_LIBRARY_PATH).
rpath="-Wl,-rpath,$(pkg-config --variable=libdir derp)"
step "e. $cc examples/host_driven.c -o host_driven \$(pkg-config --cflags --libs derp) $rpath"
# shellcheck disable=SC2046
"$cc" "$src/examples/host_driven.c" -o "$tmp/host_driven" $(pkg-config --cflags --libs derp) "$rpath" ||
  fail "building host_driven.c with pkg-config derp"
step "e. $cc examples/uv_embedded.c -o uv_embedded \$(pkg-config --cflags --libs derp libuv) $rpath"
# shellcheck disable=SC2046
"$cc" "$src/examples/uv_embedded.c" -o "$tmp/uv_embedded" $(pkg-config --cflags --libs derp libuv) "$rpath" ||
  fail "building uv_embedded.c with pkg-config derp libuv"
for exe in "$tmp/host_driven" "$tmp/uv_embedded"; do
  resolved=$(env -u LD_LIBRARY_PATH ldd "$exe" | awk -v s="$soname" '$1 == s { print $3 }')
  [ "$resolved" -ef "$libdir/$soname" ] || fail "$exe finds $soname at '$resolved', not through its rpath in $libdir"
done
env -u LD_LIBRARY_PATH timeout "$ctest_timeout" "$tmp/uv_embedded" >"$tmp/uv_embedded.out" 2>&1 ||
  { cat "$tmp/uv_embedded.out"; fail "uv_embedded exited with status $?"; }
tail -n 2 "$tmp/uv_embedded.out"
if [ "$with_examples" = 1 ]; then
  env -u LD_LIBRARY_PATH timeout "$ctest_timeout" bash "$src/scripts/run-host-driven-test.sh" "$prefix/bin/derper" \
    "$tmp/host_driven" >"$tmp/host_driven.out" 2>&1 ||
    { cat "$tmp/host_driven.out"; fail "host_driven against the installed derper"; }
  echo "host_driven against the installed derper: ok"
fi

# f. The installed tools.
if [ "$with_examples" = 1 ]; then
  version=$(sed -nE 's/^#define DERP_VERSION_STRING "(.*)"$/\1/p' "$prefix/include/derp/common.h")
  for tool in derper derp-client stun-probe; do
    exe=$prefix/bin/$tool
    step "f. $tool --help, $tool --version"
    [ -x "$exe" ] || fail "not installed: bin/$tool"
    "$exe" --help >"$tmp/$tool.help" 2>&1 || fail "installed $tool --help exited with status $?"
    for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS"; do
      grep -qx "$section" "$tmp/$tool.help" || fail "installed $tool --help has no $section section"
    done
    got=$("$exe" --version) || fail "installed $tool --version exited with status $?"
    [ "$got" = "$version (libderp $tool)" ] || fail "installed $tool --version says \"$got\", not $version"
    echo "$got"
  done
else
  echo "(the build has no examples: no tools to check)"
fi

echo "OK: installed tree works through pkg-config (shared, static) and find_package(derp) (derp::derp,"
echo "    derp::derp_static);"
echo "    the examples build and run with docs/embedding.md's lines"
[ "$with_examples" = 0 ] || echo "    the installed tools answer --help and --version"
