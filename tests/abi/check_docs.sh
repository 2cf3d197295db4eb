#!/usr/bin/env bash
# Builds the API reference (the docs target: doxygen over include/derp/*.h) and checks that it has a page for
# every public header. Doxygen's warnings are listed, not counted as failures: they are about comments' wording.
# usage: check_docs.sh CMAKE BUILD_DIR
set -euo pipefail
cmake=${1:?usage: $0 CMAKE BUILD_DIR}
build=${2:?usage: $0 CMAKE BUILD_DIR}
docs=$build/docs

rm -rf "$docs/html" "$docs/doxygen-warnings.txt"
"$cmake" --build "$build" --target docs
if [ ! -f "$docs/html/index.html" ]; then
  echo "FAIL: doxygen wrote no $docs/html/index.html"
  exit 1
fi
src=$(sed -nE 's/^INPUT[[:space:]]*=[[:space:]]*(.*)$/\1/p' "$docs/Doxyfile")
status=0
for h in "$src"/*.h; do
  page=$docs/html/$(basename "$h" .h)_8h.html
  if [ ! -f "$page" ]; then
    echo "FAIL: no page for $(basename "$h") ($page)"
    status=1
  fi
done
warnings=0
if [ -s "$docs/doxygen-warnings.txt" ]; then
  warnings=$(grep -c 'warning:' "$docs/doxygen-warnings.txt" || true)
  sed "s|$src/||" "$docs/doxygen-warnings.txt"
fi
pages=$(find "$docs/html" -name '*.html' | wc -l)
echo "API reference: $docs/html/index.html ($pages pages, $warnings doxygen warnings)"
exit $status
