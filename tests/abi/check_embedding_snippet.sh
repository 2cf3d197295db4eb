#!/usr/bin/env bash
# docs/embedding.md's Python snippet runs as written: the first ```python block is extracted and run against the
# built libderp.so, and what it prints must be what its comments promise (a packet relayed, a STUN answer, the
# netcheck's home region).
# usage: check_embedding_snippet.sh EMBEDDING_MD BINDINGS_PYTHON_DIR LIBDERP_SO
set -euo pipefail
doc=${1:?usage: $0 EMBEDDING_MD BINDINGS_PYTHON_DIR LIBDERP_SO}
pkg=$(cd "${2:?usage: $0 EMBEDDING_MD BINDINGS_PYTHON_DIR LIBDERP_SO}" && pwd)
lib=$(realpath "${3:?usage: $0 EMBEDDING_MD BINDINGS_PYTHON_DIR LIBDERP_SO}")
python=/usr/bin/python3  # Debian's interpreter, as scripts/test.sh uses
[ -x "$python" ] || { echo "DERP-SKIPPED: no $python"; exit 0; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/derp-snippet.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
awk '/^```python$/ { on = 1; next } on && /^```$/ { exit } on { print }' "$doc" >"$tmp/snippet.py"
[ -s "$tmp/snippet.py" ] || { echo "FAIL: no \`\`\`python block in $doc"; exit 1; }
echo "== the snippet ($(wc -l <"$tmp/snippet.py") lines), run from an empty directory"
status=0
(cd "$tmp" && DERP_LIBRARY=$lib PYTHONPATH=$pkg timeout 60 "$python" snippet.py) >"$tmp/out" 2>&1 || status=$?
sed 's/^/   /' "$tmp/out"
[ $status -eq 0 ] || { echo "FAIL: the snippet exited with status $status"; exit 1; }
mapfile -t lines <"$tmp/out"
[ "${#lines[@]}" = 3 ] || { echo "FAIL: expected 3 lines of output, got ${#lines[@]}"; exit 1; }
[ "${lines[0]}" = "True b'hello'" ] || { echo "FAIL: line 1 is not the relayed packet"; exit 1; }
[[ "${lines[1]}" =~ ^127\.0\.0\.1:[0-9]+\ \(rtt ]] || { echo "FAIL: line 2 is not a STUN answer"; exit 1; }
[ "${lines[2]}" = 900 ] || { echo "FAIL: line 3 is not the netcheck's home region 900"; exit 1; }
echo "OK: docs/embedding.md's Python snippet runs and prints what it says"
