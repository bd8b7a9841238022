#!/bin/sh
# cmp_dump_openssl_messages ORACLE: `pkie cmp dump` ($PKIE_BIN) over every
# message freshly captured from OpenSSL 3.0 (capture.sh: openssl cmp client
# against the mock server): each decodes, re-encodes byte-identically and
# verifies with the right secret / trust anchor (exit status 0); the header
# fields pkie decodes (body type, pvno, transactionID, senderNonce,
# recipNonce, senderKID) equal what OpenSSL's side reports (cmp_oracle info);
# and dump fails on a wrong secret, an unrelated trust anchor, a flipped MAC
# byte, a truncated message and a non-DER length.
set -eu
oracle=$1
src=${PKIE_SRC_DIR:?PKIE_SRC_DIR not set}
pkie=${PKIE_BIN:?PKIE_BIN not set}
lib=$src/tests/interop/lib
work=$(mktemp -d "${TMPDIR:-/tmp}/cmp_dump_openssl.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "cmp_dump_openssl_messages: FAIL: $*" >&2
  exit 1
}
[ -x "$pkie" ] || fail "no pkie binary at $pkie"

out=$work/cap
if ! sh "$lib/capture.sh" "$out" >"$work/capture.log" 2>&1; then
  cat "$work/capture.log" >&2
  fail "capture.sh failed"
fi
P=$out/pki

# files by protection (cases.txt: case reqprot rspprot status)
: >"$work/mac" && : >"$work/sig" && : >"$work/none" && : >"$work/all"
while read -r c reqp rspp status; do
  for d in req rsp; do
    case $d in req) prot=$reqp ;; *) prot=$rspp ;; esac
    n=1
    while [ -f "$out/$c.$d$n.der" ]; do
      echo "$out/$c.$d$n.der" >>"$work/$prot"
      echo "$out/$c.$d$n.der" >>"$work/all"
      n=$((n + 1))
    done
  done
done <"$out/cases.txt"
[ "$(wc -l <"$work/all")" -ge 120 ] || fail "only $(wc -l <"$work/all") messages captured"

# dump KIND OPTIONS...: pkie cmp dump over the files of KIND must exit 0
dump() {
  _k=$1
  shift
  # shellcheck disable=SC2046
  if ! "$pkie" cmp dump "$@" $(cat "$work/$_k") >"$work/$_k.dump" 2>&1; then
    grep -iE 'fail|error|differ|not ' "$work/$_k.dump" | head -20 >&2
    fail "pkie cmp dump $* rejects OpenSSL's $_k messages"
  fi
}
dump mac --secret pass:test
dump sig --trusted "$P/root.crt"
dump none

# header fields: pkie's JSON against the oracle's info, file by file
# shellcheck disable=SC2046
"$pkie" cmp dump --json $(cat "$work/all") >"$work/all.json" 2>&1 || fail "pkie cmp dump --json failed"
# shellcheck disable=SC2046
"$oracle" info $(cat "$work/all") >"$work/all.info" || fail "cmp_oracle info failed"
# oracle: "file: F" then "key: value" lines, blank line between messages
awk '
  /^file: / { f = $2; sub(/^.*\//, "", f); next }
  /^(body|pvno|transactionID|senderNonce|recipNonce|senderKID): / {
    k = $1; sub(/:$/, "", k); print f, k, $2 }' "$work/all.info" | sort >"$work/oracle.kv"
# pkie: one JSON object per line; take the same keys
for key in transactionID senderNonce recipNonce senderKID; do
  sed -n "s/^{\"file\":\"\\([^\"]*\\)\".*\"$key\":\"\\([0-9a-fA-F]*\\)\".*/\\1 $key \\2/p" \
    "$work/all.json"
done >"$work/pkie.kv"
sed -n 's/^{"file":"\([^"]*\)".*"pvno":\([0-9]*\).*/\1 pvno \2/p' "$work/all.json" >>"$work/pkie.kv"
sed -n 's/^{"file":"\([^"]*\)".*"body":{"type":"\([A-Za-z0-9]*\)".*/\1 body \2/p' \
  "$work/all.json" >>"$work/pkie.kv"
# compare: body types as is, hex values case-insensitively
sed 's/^[^ ]*\///' "$work/pkie.kv" | sort >"$work/pkie.all"
awk '$2 == "body"' "$work/pkie.all" >"$work/pkie.body"
awk '$2 != "body" { print $1, $2, tolower($3) }' "$work/pkie.all" | sort >"$work/pkie.hex"
awk '$2 == "body"' "$work/oracle.kv" >"$work/oracle.body"
awk '$2 != "body" { print $1, $2, tolower($3) }' "$work/oracle.kv" | sort >"$work/oracle.hex"
[ -s "$work/oracle.hex" ] || fail "no header fields from the oracle"
if ! diff "$work/oracle.body" "$work/pkie.body" >"$work/body.diff"; then
  head -20 "$work/body.diff" >&2
  fail "body types differ between pkie and OpenSSL"
fi
if ! diff "$work/oracle.hex" "$work/pkie.hex" >"$work/hex.diff"; then
  head -20 "$work/hex.diff" >&2
  fail "header fields differ between pkie and OpenSSL"
fi

# negative checks: dump must fail (exit 1)
neg() {
  _d=$1
  shift
  _rc=0
  "$pkie" cmp dump "$@" >"$work/neg.out" 2>&1 || _rc=$?
  [ "$_rc" = 1 ] || fail "dump must fail on $_d (exit $_rc): $(head -5 "$work/neg.out")"
}
neg "a wrong secret" --secret pass:wrong "$out/ir_mac.req1.der"
neg "an unrelated trust anchor" --trusted "$P/other-root.crt" "$out/ip_chain.rsp1.der"
neg "a MAC message checked against a trust anchor only" --trusted "$P/root.crt" \
  "$out/ir_mac.rsp1.der"
len=$(wc -c <"$out/ir_mac.req1.der")
head -c $((len - 1)) "$out/ir_mac.req1.der" >"$work/flip.der"
b=$(od -An -tu1 -j $((len - 1)) -N1 "$out/ir_mac.req1.der" | tr -d ' ')
printf "\\$(printf '%03o' $(((b + 1) % 256)))" >>"$work/flip.der"
neg "a flipped MAC byte" --secret pass:test "$work/flip.der"
head -c 100 "$out/ir_mac.req1.der" >"$work/trunc.der"
neg "a truncated message" "$work/trunc.der"
hdr=$(od -An -tx1 -N2 "$out/genm_none.req1.der" | tr -d ' ')
len=$(wc -c <"$out/genm_none.req1.der")
case $hdr in
3081)
  { printf '\060\202\000'; printf "\\$(printf '%03o' $((len - 3)))"; tail -c +4 \
    "$out/genm_none.req1.der"; } >"$work/ber.der" ;;
*) fail "unexpected header $hdr of genm_none.req1.der" ;;
esac
neg "a non-minimal length" "$work/ber.der"
neg "a missing file" "$work/no-such-file.der"
exit 0
