#!/usr/bin/env bash
# The C ABI is what libderp.so exports, and nothing else:
#   1. every defined dynamic symbol starts with derp_ (the version nodes of capi/libderp.map, DERP_<n>, aside);
#   2. every function declared with DERP_EXPORT in the public headers is exported.
# usage: check_exported_symbols.sh LIBDERP_SO INCLUDE_DERP_DIR
set -euo pipefail
lib=${1:?usage: $0 LIBDERP_SO INCLUDE_DERP_DIR}
headers=${2:?usage: $0 LIBDERP_SO INCLUDE_DERP_DIR}

# Defined dynamic symbols, names only, without the @@DERP_0 version suffix that some nm versions print.
exported=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u)
if [ -z "$exported" ]; then
  echo "FAIL: nm -D --defined-only found no symbols in $lib"
  exit 1
fi

# Declared: every `DERP_EXPORT <return type> <name>(` in the headers, a declaration possibly spread over several
# lines, with any pointer return type (`const char *derp_x(`). Comments and preprocessor lines (the macro's own
# definition) are dropped first.
declared=$(perl -0777 -ne '
  s{/\*.*?\*/}{ }gs;               # block comments
  s{//[^\n]*}{}g;                  # line comments
  s{^[ \t]*#(?:[^\n]*\\\n)*[^\n]*}{}gm;  # preprocessor lines, with their continuations
  while (/\bDERP_EXPORT\b([^;{}()]*?)\b([A-Za-z_]\w*)\s*\(/g) { print "$2\n"; }
' "$headers"/*.h | sort -u)
if [ -z "$declared" ]; then
  echo "FAIL: found no DERP_EXPORT declarations in $headers/*.h"
  exit 1
fi

strays=$(grep -v -E '^(derp_|DERP_[0-9]+$)' <<<"$exported" || true)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
undeclared=$(comm -13 <(echo "$declared") <(grep '^derp_' <<<"$exported"))

n_exported=$(grep -c '^derp_' <<<"$exported")
n_declared=$(wc -l <<<"$declared")
echo "$lib: $n_exported derp_* symbols exported; $n_declared DERP_EXPORT functions declared in $headers"
if [ -n "$undeclared" ]; then
  # Not an error: a derp_* symbol with no DERP_EXPORT declaration is reported so it can be looked at.
  echo "note: exported but not declared with DERP_EXPORT in the headers:"
  sed 's/^/  /' <<<"$undeclared"
fi

status=0
if [ -n "$strays" ]; then
  echo "FAIL: exported symbols outside the C ABI (only derp_* may be exported; see capi/libderp.map):"
  sed 's/^/  /' <<<"$strays"
  status=1
fi
if [ -n "$missing" ]; then
  echo "FAIL: declared with DERP_EXPORT but not exported by $lib (not defined in capi/, or not extern \"C\"?):"
  sed 's/^/  /' <<<"$missing"
  status=1
fi
[ $status -eq 0 ] && echo "OK: exported symbols match the public headers"
exit $status
