#!/usr/bin/env bash
# Regenerates abi/libderp.abi, the ABI baseline that the test abi_compatibility compares every build against:
# libabigail's abidw over libderp.so's debug info, keeping only the types of the public headers (include/derp).
#   scripts/abi-baseline.sh             builds the library alone (gcc, RelWithDebInfo) in build/abi-baseline
#   scripts/abi-baseline.sh BUILD_DIR   uses BUILD_DIR/libderp.so as it is (it must have debug info: -g)
# Run it on purpose, when the public C API changed and the change was reviewed (an addition, or a new ABI major),
# and commit abi/libderp.abi with that change. Needs abigail-tools (scripts/install-deps.sh test).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/abi/libderp.abi

if ! command -v abidw >/dev/null 2>&1; then
  echo "abi-baseline: abidw not found. On Debian: apt-get install abigail-tools" >&2
  exit 1
fi

if [ $# -ge 1 ]; then
  build=$(cd "$1" && pwd)
else
  build=$root/build/abi-baseline
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
    -DDERP_BUILD_TESTS=OFF -DDERP_BUILD_EXAMPLES=OFF \
    -DDERP_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" --target derp -j"$(nproc)"
fi
lib=$build/libderp.so
if [ ! -e "$lib" ]; then
  echo "abi-baseline: no $lib; build the derp target first" >&2
  exit 1
fi
if ! readelf -S --wide "$lib" | grep -q '\.debug_info'; then
  echo "abi-baseline: $lib has no debug info; build with -DCMAKE_BUILD_TYPE=RelWithDebInfo (or Debug)" >&2
  exit 1
fi

# No build paths in the file: no corpus path, no compilation directories, file names without their folders. So the
# baseline is the same from any checkout, and a diff of it shows only what changed in the ABI.
mkdir -p "$(dirname "$out")"
abidw --headers-dir "$root/include/derp" --drop-private-types --exported-interfaces-only --no-corpus-path \
  --no-comp-dir-path --short-locs --no-elf-needed --out-file "$out.tmp" "$lib"
mv "$out.tmp" "$out"
functions=$(grep -c '<elf-symbol name=.*type=.func-type' "$out" || true)
echo "abi-baseline: wrote ${out#"$root"/} from $lib ($functions exported functions)"
