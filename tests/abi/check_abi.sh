#!/usr/bin/env bash
# Compares libderp.so with the ABI baseline abi/libderp.abi (libabigail's abidiff):
#   - an incompatible change (a removed or renamed function, a removed variable: abidiff's exit bit 8,
#     ABIDIFF_ABI_INCOMPATIBLE_CHANGE) fails;
#   - other changes (added functions: bit 4, ABIDIFF_ABI_CHANGE) are printed and pass, since the API grows; a
#     change to an existing interface's types also lands in bit 4, and is printed under a "review" heading.
# Skips (DERP-SKIPPED) when abidiff is missing or the library has no debug info (a Release build).
# usage: check_abi.sh LIBDERP_SO INCLUDE_DERP_DIR BASELINE_ABI
set -uo pipefail
lib=${1:?usage: $0 LIBDERP_SO INCLUDE_DERP_DIR BASELINE_ABI}
headers=${2:?usage: $0 LIBDERP_SO INCLUDE_DERP_DIR BASELINE_ABI}
baseline=${3:?usage: $0 LIBDERP_SO INCLUDE_DERP_DIR BASELINE_ABI}
refresh="scripts/abi-baseline.sh [BUILD_DIR] regenerates $(basename "$(dirname "$baseline")")/$(basename "$baseline"); do so on purpose, with the reviewed API change, and commit it"

if ! command -v abidiff >/dev/null 2>&1; then
  echo "DERP-SKIPPED: abidiff not found (Debian: apt-get install abigail-tools, or scripts/install-deps.sh test)"
  exit 0
fi
if ! readelf -S --wide "$lib" | grep -q '\.debug_info'; then
  echo "DERP-SKIPPED: $lib has no debug info, which abidiff needs: build with -DCMAKE_BUILD_TYPE=RelWithDebInfo"
  exit 0
fi
if [ ! -f "$baseline" ]; then
  echo "FAIL: no ABI baseline $baseline. $refresh"
  exit 1
fi

report=$(mktemp)
trap 'rm -f "$report"' EXIT
abidiff --headers-dir2 "$headers" --drop-private-types --exported-interfaces-only --no-show-locs "$baseline" "$lib" >"$report" 2>&1
status=$?

if (( status & 1 )) || (( status & 2 )); then
  cat "$report"
  echo "FAIL: abidiff could not compare (exit status $status: error or usage error)"
  exit 1
fi
if (( status & 8 )); then
  cat "$report"
  echo "FAIL: incompatible ABI change against $baseline (abidiff exit status $status)."
  echo "  A program built against the baseline would no longer run with this library."
  echo "  Keep the old function (deprecate it) or, for a deliberate break, raise DERP_VERSION_MAJOR in"
  echo "  include/derp/common.h and DERP_ABI_MAJOR in CMakeLists.txt. Either way: $refresh."
  exit 1
fi
if (( status & 4 )); then
  cat "$report"
  if abidiff --headers-dir2 "$headers" --drop-private-types --exported-interfaces-only --no-added-syms "$baseline" "$lib" >/dev/null 2>&1; then
    echo "OK: compatible additions only (abidiff exit status $status). When they are meant: $refresh."
  else
    echo "REVIEW: besides any additions, existing interfaces changed (abidiff exit status $status). Appending a"
    echo "  field to a versioned options struct (struct_size) is compatible; any other layout or signature change"
    echo "  breaks programs built against the baseline. When the change is meant: $refresh."
  fi
  exit 0
fi
echo "OK: ABI identical to $baseline"
