#!/usr/bin/env bash
# Checks this packwitness evidence bundle with bash, coreutils and openssl (3.0 or newer) only.
# Run it in the unzipped bundle with the station key the merchant published before the
# dispute (a key inside the bundle proves nothing: whoever made the bundle chose it):
#   bash verify.sh 'STATION_KEY'      the key itself, name+id+base64
#   bash verify.sh FILE               or a file holding it
#   bash verify.sh KEY WITNESS_KEY... and the witnesses whose cosignatures must be there
#   TSA_CA=FILE bash verify.sh KEY    and the time-stamps, against the TSA's published CA
#                                     certificates (TSA_CA=system: this machine's roots);
#                                     without it they are not checked and the times rest on
#                                     the station's clock
# It prints each step and ends with VERIFIED (exit 0: files, records and every clip's time
# proven), TIME NOT PROVEN (exit 5: files and records hold, but some clip's time rests on the
# station's clock: no time-stamp or cosignature from a party given, or only one more than
# MAX_DELAY seconds, default 900, after the clip), or names what is wrong (FAILED, exit 3).
# Without a key it checks nothing and says so (NOT VERIFIED, exit 4). The codes are
# packwitness verify-bundle's; exit 1 means the check could not run at all.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
fail() { echo "FAILED: $*"; exit 3; }
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
h() { openssl dgst -sha256 -binary; }
hex() { od -An -v -tx1 | tr -d ' \n'; }

key=${1:-}
if [ -z "$key" ]; then
  echo "NOT VERIFIED: give the station key the merchant published beforehand:"
  echo "  bash verify.sh 'name+id+key'     or     bash verify.sh FILE"
  echo "(the bundle carries $(cat station.pub 2>/dev/null || echo 'no key'); a key inside the bundle proves nothing)"
  exit 4
fi
[ -f "$key" ] && key=$(tr -d ' \r\n' < "$key")

echo "1. the station key given is well formed, and the bundle's keys are that key"
name=${key%%+*}; rest=${key#*+}; kid=${rest%%+*}; kb64=${rest#*+}
[ -n "$name" ] && [ "$name" != "$key" ] && [ ${#kid} -eq 8 ] && [ "$kb64" != "$rest" ] \
  || fail "the station key '$key' is not name+id+key"
printf '%s' "$kb64" | base64 -d > "$t/kraw" 2>/dev/null
[ "$(wc -c < "$t/kraw")" -eq 33 ] && [ "$(head -c 1 "$t/kraw" | hex)" = "01" ] \
  || fail "the station key is not an Ed25519 signed-note key"
# The key ID is the first 4 bytes of SHA-256(name, newline, 0x01, public key).
id=$({ printf '%s\n' "$name"; cat "$t/kraw"; } | h | head -c 4 | hex)
[ "$id" = "$kid" ] || fail "the station key's ID $kid is not the hash of its name and key ($id)"
{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; tail -c 32 "$t/kraw"; } | base64 -w0 > "$t/spki"
{ echo "-----BEGIN PUBLIC KEY-----"; cat "$t/spki"; echo; echo "-----END PUBLIC KEY-----"; } > "$t/key.pem"
[ "$(tr -d '\r\n' < station.pub 2>/dev/null)" = "$key" ] \
  || fail "station.pub is not the key given: the bundle was signed by another key"
cmp -s station.pem "$t/key.pem" || fail "station.pem is not the key given"
grep -q "^  \"station_key\": \"$key\",\$" evidence.json || fail "evidence.json names another station key"

# A signed note (c2sp.org/signed-note): the text ends at its last blank line; each line after
# it is "— <key name> <base64(key ID || signature)>". Lines of other keys (a witness's
# cosignature) are skipped; the one of the station key must verify.
check_note() {
  local n line ok=
  n=$(grep -n '^$' "$1" | tail -n 1 | cut -d: -f1)
  [ -n "$n" ] || fail "$1: no blank line before the signatures"
  head -n $((n - 1)) "$1" > "$t/body"
  while IFS= read -r line; do
    case "$line" in "— $name "*) ;; *) continue ;; esac
    printf '%s' "${line#"— $name "}" | base64 -d > "$t/sig" 2>/dev/null || continue
    [ "$(wc -c < "$t/sig")" -eq 68 ] && [ "$(head -c 4 "$t/sig" | hex)" = "$kid" ] || continue
    tail -c 64 "$t/sig" > "$t/sig64"
    openssl pkeyutl -verify -pubin -inkey "$t/key.pem" -rawin -in "$t/body" -sigfile "$t/sig64" \
      > /dev/null 2>&1 || fail "$1: the signature by the station key $name does not verify"
    ok=1
    break
  done < <(tail -n +$((n + 1)) "$1")
  [ -n "$ok" ] || fail "$1: no signature by the station key $name"
}

# A witness key (name+id+key, type 0x04): sets wname and wid, writes its PEM to $t/w.pem.
witness_pem() {
  local wkey=$1 wrest wb64
  wname=${wkey%%+*}; wrest=${wkey#*+}; wid=${wrest%%+*}; wb64=${wrest#*+}
  printf '%s' "$wb64" | base64 -d > "$t/wraw" 2>/dev/null
  [ "$(wc -c < "$t/wraw")" -eq 33 ] && [ "$(head -c 1 "$t/wraw" | hex)" = "04" ] \
    || fail "the witness key '$wkey' is not an Ed25519 cosignature key"
  [ "$({ printf '%s\n' "$wname"; cat "$t/wraw"; } | h | head -c 4 | hex)" = "$wid" ] \
    || fail "the witness key's ID $wid is not the hash of its name and key"
  { printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; tail -c 32 "$t/wraw"; } | base64 -w0 > "$t/wspki"
  { echo "-----BEGIN PUBLIC KEY-----"; cat "$t/wspki"; echo; echo "-----END PUBLIC KEY-----"; } > "$t/w.pem"
}

# The time of a valid cosignature (c2sp.org/tlog-cosignature) of the witness of witness_pem
# on the note $1, whose body is in $t/body; empty when it has none.
cosigned_at() {
  local line ts
  while IFS= read -r line; do
    case "$line" in "— $wname "*) ;; *) continue ;; esac
    printf '%s' "${line#"— $wname "}" | base64 -d > "$t/cs" 2>/dev/null || continue
    [ "$(wc -c < "$t/cs")" -eq 76 ] && [ "$(head -c 4 "$t/cs" | hex)" = "$wid" ] || continue
    ts=$((16#$(tail -c +5 "$t/cs" | head -c 8 | hex)))
    { printf 'cosignature/v1\ntime %s\n' "$ts"; cat "$t/body"; } > "$t/cmsg"
    tail -c 64 "$t/cs" > "$t/csig"
    openssl pkeyutl -verify -pubin -inkey "$t/w.pem" -rawin -in "$t/cmsg" -sigfile "$t/csig" \
      > /dev/null 2>&1 && { echo "$ts"; return; }
  done < <(sed '1,/^$/d' "$1")
}

# A bundle made at the archive (`packwitness archive export`) carries the archive's
# cosignature on bundle.note instead of the station's signature: the archive's key must be
# among the witness keys given.
archive=$(grep -o '^  "archive_key": "[^"]*"' evidence.json | cut -d'"' -f4)
made_at=""
if [ -n "$archive" ]; then
  given=""
  for w in "${@:2}"; do
    [ -f "$w" ] && w=$(tr -d ' \r\n' < "$w")
    [ "$w" = "$archive" ] && given=$w
  done
  if [ -z "$given" ]; then
    echo "NOT VERIFIED: this bundle was made at the archive ${archive%%+*}; give its key, which it published beforehand, after the station key:"
    echo "  bash verify.sh 'STATION_KEY' 'ARCHIVE_KEY'"
    echo "(the bundle carries $archive; a key inside the bundle proves nothing)"
    exit 4
  fi
  echo "2. bundle.note is cosigned by the archive key given and lists every file"
  [ "$(tr -d '\r\n' < archive.pub 2>/dev/null)" = "$archive" ] || fail "archive.pub is not the archive key given"
  witness_pem "$archive"
  n=$(grep -n '^$' bundle.note | tail -n 1 | cut -d: -f1)
  [ -n "$n" ] || fail "bundle.note: no blank line before the signatures"
  head -n $((n - 1)) bundle.note > "$t/body"
  [ -n "$(cosigned_at bundle.note)" ] || fail "bundle.note: no valid cosignature by the archive $wname"
  made_at="; made at the archive $wname (key ID $wid, the key given): the list of the order's clips is the archive's"
else
  echo "2. bundle.note is signed by the station key and lists every file"
  check_note bundle.note
fi
[ "$(head -n 1 "$t/body")" = "packwitness-bundle v1" ] || fail "bundle.note is not a packwitness-bundle v1 list"
tail -n +2 "$t/body" > "$t/list"
sha256sum --quiet -c "$t/list" || fail "a file of the bundle was changed after export (above)"
for f in $(find . -type f ! -name bundle.note | sed 's|^\./||'); do
  grep -q "  $f\$" "$t/list" || fail "$f is not in the signed list: added after export"
done

echo "3. checkpoint.note is signed by the station key"
check_note checkpoint.note
size=$(sed -n 2p "$t/body")
root=$(sed -n 3p "$t/body")

# An RFC 6962 inclusion proof (c2sp.org/tlog-proof) of a record against a checkpoint note
# whose tree has $3 lines and root $4.
prove_in() {
  local proof=$1 rec=$2 size=$3 root=$4 n idx fn sn p
  n=${rec#records/line-}; n=${n%.jsonl}
  sed -n 's/^extra //p' "$proof" | base64 -d | cmp -s - "$rec" || fail "$rec is not the record in $proof"
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
}

echo "4. every record is in the signed log (RFC 6962 inclusion proof up to the root)"
for proof in proofs/line-*.tlog-proof; do
  case "$proof" in *.at-* | *.w-*) continue ;; esac
  n=${proof#proofs/line-}; n=${n%.tlog-proof}
  sed '1,/^$/d' "$proof" | cmp -s - checkpoint.note || fail "$proof is against another checkpoint"
  prove_in "$proof" "records/line-$n.jsonl" "$size" "$root"
done
for rec in records/line-*.jsonl; do
  [ -f "proofs/$(basename "$rec" .jsonl).tlog-proof" ] || fail "$rec has no proof"
done

echo "5. the records are of the order on the bundle, and every clip has its opening and its seal"
kinds() { grep -l "\"kind\":\"$1\"" records/line-*.jsonl 2>/dev/null; }
# The export's own access record (others cited are MP4s made for upload, `upload_mp4`).
access=$(grep -l '"kind":"access","action":"export"' records/line-*.jsonl 2>/dev/null)
evcode=$(grep -o '^  "code": "[^"]*"' evidence.json | cut -d'"' -f4)
if [ -n "$archive" ] && [ -z "$access" ]; then
  # Made at the archive: no station record of this export; the clips are the archive's list
  # (evidence.json, cosigned in step 2), each proven below.
  code=$evcode
  listed=""
else
  [ "$(printf '%s\n' "$access" | grep -c .)" -eq 1 ] || fail "the bundle has no access record of its export (or several): nothing shows which clips the order had"
  code=$(grep -o '"code":"[^"]*"' "$access" | head -n 1 | cut -d'"' -f4)
  [ "$code" = "$evcode" ] || fail "evidence.json says $evcode, but the export ($access) was of $code"
  listed=$(grep -o '"clips":\[[0-9,]*\]' "$access" | tr -dc '0-9,' | tr ',' '\n' | sort -n | tr '\n' ' ')
fi
opened=""
for rec in $(kinds clip_opened); do
  n=${rec#records/line-}; n=${n%.jsonl}
  opened="$opened$n "
  order=$(grep -o '"order":"[^"]*"' "$rec" | cut -d'"' -f4)
  if [ "$order" != "$code" ]; then
    kinds code_attached | xargs -r grep -l "\"clip\":$n,\"code\":\"$code\"" | grep -q . \
      || fail "$rec is a clip of order $order, and no record attaches $code to it: not the order on the bundle"
  fi
  kinds clip_sealed | xargs -r grep -l "\"clip\":$n," | grep -q . \
    || fail "clip $n ($rec) has no clip_sealed record: exported while recording, or its seal was left out"
done
for rec in $(kinds clip_sealed); do
  c=$(grep -o '"clip":[0-9]*' "$rec" | head -n 1 | cut -d: -f2)
  grep -qs '"kind":"clip_opened"' "records/line-$c.jsonl" || fail "$rec seals clip $c, whose clip_opened record is not in the bundle"
done
opened=$(printf '%s' "$opened" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')
[ -z "$access" ] || [ "$listed" = "$opened" ] || fail "the access record lists clips $listed; the bundle has $opened: a clip of the order is missing"
[ -n "$opened" ] || fail "the bundle has no clip"

echo "6. every clip has the SHA-256 its proven clip_sealed record gives"
for rec in $(kinds clip_sealed); do
  sha=$(grep -o '"sha256":"[0-9a-f]*"' "$rec" | cut -d'"' -f4)
  c=$(grep -o '"clip":[0-9]*' "$rec" | head -n 1 | cut -d: -f2)
  grep -q "^$sha  " SHA256SUMS || kinds pruned | xargs -r grep -l "\"clip\":$c," | grep -q . \
    || fail "SHA256SUMS has no clip for $rec, and no record says retention pruned it"
done
sha256sum -c SHA256SUMS || fail "a clip does not match its record"
while read -r sha file; do
  kinds clip_sealed | xargs -r grep -l "\"sha256\":\"$sha\"" | grep -q . \
    || fail "$file: no proven clip_sealed record has its hash"
done < SHA256SUMS

: > "$t/proofs"
anchored="not anchored outside the station: the times rest on the station's clock and key alone"
if ls anchors/*.tsr > /dev/null 2>&1 && [ -z "${TSA_CA:-}" ]; then
  # Trust comes from the reviewer: the CA the bundle carries is information, not trust.
  echo "7. time-stamps: not checked; run with TSA_CA=FILE (the TSA's published CA certificates) or TSA_CA=system (this machine's trusted roots)"
  anchored="time-stamps not checked (the TSA's CA certificates were not given): the times rest on the station's clock and key alone"
elif ls anchors/*.tsr > /dev/null 2>&1; then
  echo "7. each time-stamp: the station signed the checkpoint, the TSA's token stamps it, and no clip time contradicts it"
  if [ "$TSA_CA" = system ]; then ca_args=(-CApath /etc/ssl/certs); ca="this machine's trusted roots"
  else ca_args=(-CAfile "$TSA_CA"); ca=$TSA_CA; fi
  : > "$t/stamps"
  for tsr in anchors/*.tsr; do
    a=${tsr%.tsr}; z=${a#anchors/}
    check_note "$a.note"
    [ "$(sed -n 2p "$t/body")" = "$z" ] || fail "$a.note is not the station's checkpoint of $z lines"
    ta=$(openssl ts -reply -in "$tsr" -text 2>/dev/null | sed -n 's/^Time stamp: //p')
    tas=$(date -u -d "$ta" +%s 2>/dev/null) || fail "$tsr: its time cannot be read"
    # The chain is checked at the stamp's time, not today's: a token made while the TSA's
    # certificate was valid stays good after it expires, and one made after does not.
    openssl ts -verify -data "$a.note" -in "$tsr" "${ca_args[@]}" -attime "$tas" > /dev/null 2>&1 \
      || fail "$tsr: the time-stamp does not verify against $ca at its own time ($ta)"
    tsa=$(openssl ts -reply -in "$tsr" -token_out 2>/dev/null | openssl pkcs7 -inform DER -print_certs 2>/dev/null | sed -n 's/^subject=//p' | sed 's/ = /=/g' | head -n 1)
    echo "$z $tas $(sed -n 3p "$t/body")" >> "$t/stamps"
    echo "   checkpoint of $z lines stamped at $(date -u -d "@$tas" +%Y-%m-%dT%H:%M:%SZ) by ${tsa:-the TSA}"
  done
  last=0; lastt=""
  for rec in $(kinds clip_sealed); do
    s=${rec#records/line-}; s=${s%.jsonl}
    end=$(date -d "$(grep -o '"ended_at":"[^"]*"' "$rec" | cut -d'"' -f4)" +%s)
    at=$(ls proofs/line-"$s".at-*.tlog-proof 2>/dev/null | head -n 1)
    [ -n "$at" ] || { last=-1; continue; }
    z=${at#*.at-}; z=${z%.tlog-proof}
    read -r _ tas zroot < <(grep "^$z " "$t/stamps") || fail "$at names a checkpoint the bundle has no time-stamp for"
    sed '1,/^$/d' "$at" | cmp -s - "anchors/$z.note" || fail "$at is not against anchors/$z.note"
    prove_in "$at" "$rec" "$z" "$zroot"
    [ "$end" -le $((tas + 2)) ] || fail "$rec claims to end after the TSA stamped a log that already held it: the station clock was ahead, or the log was re-dated"
    echo "$rec $tas time-stamp" >> "$t/proofs"
    if [ "$last" -ge 0 ] && [ "$tas" -ge "$last" ]; then last=$tas; lastt=$z; fi
  done
  for rec in $(kinds anchored); do
    l=${rec#records/line-}; l=${l%.jsonl}
    z=$(grep -o '"size":[0-9]*' "$rec" | cut -d: -f2)
    sha=$(grep -o '"sha256":"[0-9a-f]*"' "$rec" | cut -d'"' -f4)
    [ "$(sha256sum < "anchors/$z.tsr" | cut -d' ' -f1)" = "$sha" ] 2>/dev/null || fail "$rec names a token the bundle does not carry"
    read -r _ tas _ < <(grep "^$z " "$t/stamps")
    for o in $(kinds clip_opened); do
      n=${o#records/line-}; n=${n%.jsonl}
      [ "$n" -gt "$l" ] || continue
      sc=$(date -d "$(grep -o '"scanned_at":"[^"]*"' "$o" | cut -d'"' -f4)" +%s)
      [ $((sc + 2)) -ge "$tas" ] || fail "$o claims a scan before the time-stamp of $rec, which was written before it: the log was re-dated (or the station clock set back)"
    done
  done
  if [ "$last" -gt 0 ]; then
    tsa=$(openssl ts -reply -in "anchors/$lastt.tsr" -token_out 2>/dev/null | openssl pkcs7 -inform DER -print_certs 2>/dev/null | sed -n 's/^subject=//p' | sed 's/ = /=/g' | head -n 1)
    anchored="existed no later than $(date -u -d "@$last" +%Y-%m-%dT%H:%M:%SZ) (RFC 3161 time-stamp by ${tsa:-the TSA})"
  fi
fi

witnessed=""
shift
for wkey in "$@"; do
  [ -f "$wkey" ] && wkey=$(tr -d ' \r\n' < "$wkey")
  witness_pem "$wkey"
  echo "8. every clip's seal is in a checkpoint the witness $wname cosigned"
  wlast=0
  for rec in $(kinds clip_sealed); do
    s=${rec#records/line-}; s=${s%.jsonl}
    wp=$(ls proofs/line-"$s".w-"$wid"-*.tlog-proof 2>/dev/null | head -n 1)
    [ -n "$wp" ] || fail "$rec is in no checkpoint the witness $wname cosigned (a log it never saw, or a fork it refused)"
    z=${wp%.tlog-proof}; z=${z##*-}
    wn="anchors/w-$wid-$z.note"
    sed '1,/^$/d' "$wp" | cmp -s - "$wn" || fail "$wp is not against $wn"
    check_note "$wn"
    wts=$(cosigned_at "$wn")
    [ -n "$wts" ] || fail "$wn carries no valid cosignature by $wname"
    prove_in "$wp" "$rec" "$z" "$(sed -n 3p "$t/body")"
    end=$(date -d "$(grep -o '"ended_at":"[^"]*"' "$rec" | cut -d'"' -f4)" +%s)
    [ "$end" -le $((wts + 2)) ] || fail "$rec claims to end after $wname cosigned a log holding it: the log was re-dated"
    echo "$rec $wts witness $wname" >> "$t/proofs"
    [ "$wts" -gt "$wlast" ] && wlast=$wts
  done
  witnessed="$witnessed
cosigned by witness $wname (key ID $wid): every clip's seal was in a log it saw, consistent with all it saw before, no later than $(date -u -d "@$wlast" +%Y-%m-%dT%H:%M:%SZ)"
done

from=$(kinds clip_sealed | xargs -r grep -ho '"started_at":"[^"]*"' | cut -d'"' -f4 | sort | head -n 1)
to=$(kinds clip_sealed | xargs -r grep -ho '"ended_at":"[^"]*"' | cut -d'"' -f4 | sort | tail -n 1)
synced=$(kinds clip_opened | xargs -r grep -ho '"clock_synced":[a-z]*' | cut -d: -f2 | sort -u | tr '\n' ' ')
case "$synced" in "true ") synced=yes ;; *false*) synced=no ;; *) synced=unknown ;; esac
# Each clip's claimed time: proven when the earliest proof from a party the reviewer gave (a
# time-stamp checked against TSA_CA, a witness key given) is at most MAX_DELAY seconds (900)
# after the clip's end.
max_delay=${MAX_DELAY:-900}
human() { local d=$1; if [ "$d" -ge 86400 ]; then echo "$((d / 86400)) days $(((d % 86400) / 3600)) h";
  elif [ "$d" -ge 3600 ]; then echo "$((d / 3600)) h $(((d % 3600) / 60)) min";
  elif [ "$d" -ge 60 ]; then echo "$((d / 60)) min"; else echo "$d s"; fi; }
times=""; unproven=0
for rec in $(kinds clip_sealed); do
  ended=$(grep -o '"ended_at":"[^"]*"' "$rec" | cut -d'"' -f4)
  end=$(date -d "$ended" +%s)
  what="clip $(grep -o '"clip":[0-9]*' "$rec" | cut -d: -f2) of $(grep -o '"order":"[^"]*"' "$rec" | cut -d'"' -f4)"
  read -r _ first by < <(grep "^$rec " "$t/proofs" | sort -k2,2n | head -n 1)
  if [ -z "${first:-}" ]; then
    unproven=1
    times="$times
$what: time not proven: claims $ended (station clock); no independent proof that it existed (give TSA_CA=FILE and the witness keys)"
  else
    d=$((first - end)); [ "$d" -lt 0 ] && d=0
    when=$(date -u -d "@$first" +%Y-%m-%dT%H:%M:%SZ)
    if [ "$d" -le "$max_delay" ]; then
      times="$times
$what: time proven: claims $ended (station clock); $by at $when, $(human "$d") later"
    else
      unproven=1
      times="$times
$what: time not proven: claims $ended (station clock); the earliest independent proof that it existed is $when ($by), $(human "$d") later"
    fi
  fi
  first=""
done
head="VERIFIED"; [ "$unproven" = 0 ] || head="TIME NOT PROVEN"
echo "$head: order $code, $(grep -c . SHA256SUMS) clips, $(ls proofs | grep -vc '\.at-') records proven against $(sed -n 1p checkpoint.note) ($size lines), signed by the key given ($name)$made_at"
echo "recorded between ${from:-?} and ${to:-?} (station clock, NTP synchronised: $synced); $anchored$witnessed$times"
# MP4s made for upload from these clips: a file a platform received with this SHA-256 is one
# (each record proven in step 4 and, by step 5's clip hashes, made from these clips).
for u in $(grep -l '"kind":"access","action":"upload_mp4"' records/line-*.jsonl 2>/dev/null); do
  echo "MP4 for upload $(grep -o '"to":"[^"]*"' "$u" | cut -d'"' -f4): SHA-256 $(grep -o '"derived":{"sha256":"[0-9a-f]*"' "$u" | cut -d'"' -f6) ($u)"
done
[ "$unproven" = 0 ] || exit 5
