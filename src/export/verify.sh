#!/usr/bin/env bash
# Checks this packwitness evidence bundle with bash, coreutils and openssl (3.0 or newer) only.
# Run it in the unzipped bundle:  bash verify.sh
# It prints each step and ends with "BUNDLE OK" (exit 0), or names what is wrong (exit 1).
set -uo pipefail
cd "$(dirname "$0")" || exit 1
fail() { echo "FAILED: $*"; exit 1; }
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
h() { openssl dgst -sha256 -binary; }

# A signed note (checkpoint.note, bundle.note): body up to the blank line, Ed25519 signature
# by the station key (the last 64 bytes of the signature line's base64).
check_note() {
  sed '/^$/,$d' "$1" > "$t/body"
  tail -n 1 "$1" | cut -d' ' -f3 | base64 -d 2>/dev/null | tail -c 64 > "$t/sig"
  openssl pkeyutl -verify -pubin -inkey station.pem -rawin -in "$t/body" -sigfile "$t/sig" \
    > /dev/null 2>&1 || fail "$1: the signature by the station key (station.pem) does not verify"
}

echo "1. bundle.note is signed by the station and lists every file"
check_note bundle.note
sed '1d;/^$/,$d' bundle.note > "$t/list"
sha256sum --quiet -c "$t/list" || fail "a file of the bundle was changed after export (above)"
for f in $(find . -type f ! -name bundle.note | sed 's|^\./||'); do
  grep -q "  $f\$" "$t/list" || fail "$f is not in the signed list: added after export"
done

echo "2. checkpoint.note is signed by the station"
check_note checkpoint.note
size=$(sed -n 2p checkpoint.note)
root=$(sed -n 3p checkpoint.note)

echo "3. every record is in the signed log (RFC 6962 inclusion proof up to the root)"
for proof in proofs/line-*.tlog-proof; do
  n=${proof#proofs/line-}; n=${n%.tlog-proof}
  rec="records/line-$n.jsonl"
  sed -n 's/^extra //p' "$proof" | base64 -d | cmp -s - "$rec" || fail "$rec is not the record in $proof"
  sed '1,/^$/d' "$proof" | cmp -s - checkpoint.note || fail "$proof is against another checkpoint"
  idx=$(sed -n 's/^index //p' "$proof")
  [ "$idx" = "$((n - 1))" ] || fail "$proof proves index $idx, not line $n"
  { printf '\000'; cat "$rec"; } | h > "$t/r"
  fn=$idx; sn=$((size - 1))
  mapfile -t path < <(sed '1,3d;/^$/,$d' "$proof")
  for p in "${path[@]}"; do
    [ "$sn" -eq 0 ] && fail "$proof: the path is too long"
    printf '%s' "$p" | base64 -d > "$t/p"
    if [ $((fn & 1)) -eq 1 ] || [ "$fn" -eq "$sn" ]; then
      { printf '\001'; cat "$t/p" "$t/r"; } | h > "$t/n"
      if [ $((fn & 1)) -eq 0 ]; then
        while [ $((fn & 1)) -eq 0 ] && [ "$fn" -ne 0 ]; do fn=$((fn >> 1)); sn=$((sn >> 1)); done
      fi
    else
      { printf '\001'; cat "$t/r" "$t/p"; } | h > "$t/n"
    fi
    mv "$t/n" "$t/r"; fn=$((fn >> 1)); sn=$((sn >> 1))
  done
  [ "$sn" -eq 0 ] && [ "$(base64 -w0 < "$t/r")" = "$root" ] || fail "$proof does not lead to the signed root"
done

echo "4. every clip has the SHA-256 its proven clip_sealed record gives"
for rec in records/line-*.jsonl; do
  grep -q '"kind":"clip_sealed"' "$rec" || continue
  sha=$(grep -o '"sha256":"[0-9a-f]*"' "$rec" | cut -d'"' -f4)
  grep -q "^$sha  " SHA256SUMS || fail "SHA256SUMS has no clip for $rec (pruned clips have none)" 
done
sha256sum -c SHA256SUMS || fail "a clip does not match its record"
while read -r sha name; do
  grep -l "\"sha256\":\"$sha\"" records/line-*.jsonl | xargs -r grep -l '"kind":"clip_sealed"' \
    | grep -q . || fail "$name: no proven clip_sealed record has its hash"
done < SHA256SUMS
echo "BUNDLE OK: $(wc -l < SHA256SUMS) clips, $(ls proofs | wc -l) records proven against $(sed -n 1p checkpoint.note) ($size lines)"
