#!/usr/bin/env bash
# The umbrella header include/derp/derp.h is the one line a program needs:
#   1. it includes every other public header in include/derp (a header added later must be added there too);
#   2. it compiles alone, as C11 and as C++ (-Wall -Wextra -pedantic -Werror), and a program that includes it twice
#      still compiles (include guards).
# usage: check_umbrella_header.sh INCLUDE_DIR C_COMPILER CXX_COMPILER
set -euo pipefail
include=${1:?usage: $0 INCLUDE_DIR C_COMPILER CXX_COMPILER}
cc=${2:?usage: $0 INCLUDE_DIR C_COMPILER CXX_COMPILER}
cxx=${3:?usage: $0 INCLUDE_DIR C_COMPILER CXX_COMPILER}
umbrella=$include/derp/derp.h
[ -f "$umbrella" ] || { echo "FAIL: no $umbrella"; exit 1; }

status=0
included=$(sed -nE 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]derp/([^">]+)[">].*|\1|p' "$umbrella" | sort -u)
for h in "$include"/derp/*.h; do
  name=$(basename "$h")
  [ "$name" = derp.h ] && continue
  if ! grep -qx "$name" <<<"$included"; then
    echo "FAIL: include/derp/derp.h does not include derp/$name (every public header belongs in the umbrella)"
    status=1
  fi
done
for name in $included; do
  [ -f "$include/derp/$name" ] || { echo "FAIL: derp.h includes derp/$name, which does not exist"; status=1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/derp-umbrella.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# A use of one declaration from each corner, so the compile is not vacuous.
cat >"$tmp/use.c" <<'C'
#include <derp/derp.h>
#include <derp/derp.h>
int main(void) {
  const char *text = derp_strerror(DERP_ERR_INVALID_ARGUMENT);
  derp_client_options client_options;
  derp_uv_server_options server_options;
  derp_netcheck_options netcheck_options;
  (void)client_options; (void)server_options; (void)netcheck_options;
  return text == 0 && derp_version() == 0;
}
C
cp "$tmp/use.c" "$tmp/use.cpp"
"$cc" -std=c11 -Wall -Wextra -pedantic -Werror -I"$include" -fsyntax-only "$tmp/use.c" ||
  { echo "FAIL: derp/derp.h does not compile as C11"; status=1; }
"$cxx" -std=c++17 -Wall -Wextra -pedantic -Werror -I"$include" -fsyntax-only "$tmp/use.cpp" ||
  { echo "FAIL: derp/derp.h does not compile as C++"; status=1; }
[ $status -eq 0 ] && echo "OK: derp/derp.h includes the $(wc -w <<<"$included") public headers, compiles as C and C++"
exit $status
