# Checks a packwitness manifest with coreutils and jq only. Run it inside a data dir.
# Used by tests/demo.rs; README.md ("Checking a manifest by hand") shows the same lines.
set -euo pipefail
prev=0000000000000000000000000000000000000000000000000000000000000000
n=0
while IFS= read -r line; do
  n=$((n + 1))
  [ "$(printf '%s\n' "$line" | jq -r .prev)" = "$prev" ] || { echo "chain broken at line $n"; exit 1; }
  prev=$(printf '%s\n' "$line" | sha256sum | cut -d' ' -f1)
done < manifest.jsonl
echo "chain OK: $n lines, head $prev"
jq -r 'select(.kind == "clip_sealed") | "\(.sha256)  \(.file)"' manifest.jsonl | sha256sum -c -
