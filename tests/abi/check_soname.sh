#!/usr/bin/env bash
# libderp.so's SONAME carries the ABI major: it must be libderp.so.<DERP_VERSION_MAJOR of include/derp/common.h>.
# usage: check_soname.sh LIBDERP_SO COMMON_H
set -euo pipefail
lib=${1:?usage: $0 LIBDERP_SO COMMON_H}
common_h=${2:?usage: $0 LIBDERP_SO COMMON_H}

major=$(sed -nE 's/^[[:space:]]*#[[:space:]]*define[[:space:]]+DERP_VERSION_MAJOR[[:space:]]+([0-9]+).*/\1/p' "$common_h")
if [ -z "$major" ]; then
  echo "FAIL: no '#define DERP_VERSION_MAJOR <n>' in $common_h"
  exit 1
fi
soname=$(readelf -d "$lib" | sed -nE 's/.*\(SONAME\).*\[(.*)\].*/\1/p')
expected="libderp.so.$major"
echo "$lib: SONAME '${soname}', expected '$expected' (DERP_VERSION_MAJOR $major)"
if [ "$soname" != "$expected" ]; then
  echo "FAIL: SONAME and DERP_VERSION_MAJOR disagree: keep DERP_ABI_MAJOR in CMakeLists.txt equal to" \
       "DERP_VERSION_MAJOR in include/derp/common.h"
  exit 1
fi
echo "OK"
