#!/bin/sh
# oracle_negative.sh ORACLE DIR: the oracle's checks must be able to fail.
# DIR is a captured set (capture.sh; the committed one is tests/data/cmp).
# A wrong secret, an unrelated trust anchor, a MAC message checked as signed,
# an unprotected message, flipped bytes under the MAC and the signature, a
# truncated message, trailing bytes and a non-minimal (BER) length must each
# make the oracle exit 1; usage errors exit 2; `info` must report what the
# capture put there. Quiet unless failing.
set -eu
oracle=$1
dir=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/oracle_negative.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() {
  echo "oracle_negative: FAIL: $*" >&2
  exit 1
}
neg() { # neg DESCRIPTION CMD...: CMD must exit 1
  _d=$1
  shift
  _rc=0
  "$@" >"$work/neg.out" 2>&1 || _rc=$?
  [ "$_rc" = 1 ] || fail "negative check '$_d' exited $_rc: $(cat "$work/neg.out")"
}
neg "wrong secret" "$oracle" validate --secret pass:wrong "$dir/ir_mac.req1.der"
neg "wrong secret on a response" "$oracle" validate --secret pass:tes "$dir/poll.rsp2.der"
neg "unrelated trust anchor" "$oracle" validate --trusted "$dir/pki/other-root.crt" \
  "$dir/ip_chain.rsp1.der"
neg "MAC message checked as signed" "$oracle" validate --trusted "$dir/pki/root.crt" \
  "$dir/ir_mac.rsp1.der"
neg "unprotected without --allow-unprotected" "$oracle" validate --secret pass:test \
  "$dir/error_unprot.rsp1.der"

# flip one byte: flip IN OUT OFFSET
flip() {
  head -c "$3" "$1" >"$2"
  _b=$(od -An -tu1 -j "$3" -N1 "$1" | tr -d ' ')
  printf "\\$(printf '%03o' $(((_b + 1) % 256)))" >>"$2"
  tail -c "+$(($3 + 2))" "$1" >>"$2"
}
# the first byte of the transactionID's value (inside [4] OCTET STRING)
tid_offset() {
  openssl asn1parse -inform DER -in "$1" |
    awk -F'[:= ]+' '/cont \[ 4 \]/ { getline; if (/OCTET STRING/) { print $2 + $6; exit } }'
}
len=$(wc -c <"$dir/ir_mac.req1.der")
flip "$dir/ir_mac.req1.der" "$work/flip_mac.der" $((len - 1))
neg "flipped MAC byte" "$oracle" validate --secret pass:test "$work/flip_mac.der"
off=$(tid_offset "$dir/ir_sig.req1.der")
[ -n "$off" ] || fail "no transactionID found in ir_sig.req1.der"
flip "$dir/ir_sig.req1.der" "$work/flip_sig.der" "$off"
"$oracle" roundtrip "$work/flip_sig.der" >/dev/null || fail "flipped transactionID must decode"
neg "flipped signed byte" "$oracle" validate --trusted "$dir/pki/root.crt" "$work/flip_sig.der"
off=$(tid_offset "$dir/ir_mac.rsp1.der")
flip "$dir/ir_mac.rsp1.der" "$work/flip_mac_tid.der" "$off"
neg "flipped MAC'd byte" "$oracle" validate --secret pass:test "$work/flip_mac_tid.der"
head -c 100 "$dir/ir_mac.req1.der" >"$work/trunc.der"
neg "truncated message" "$oracle" roundtrip "$work/trunc.der"
cp "$dir/ir_mac.req1.der" "$work/trail.der"
printf '\000\000' >>"$work/trail.der"
neg "trailing bytes" "$oracle" roundtrip "$work/trail.der"
# re-encode the outer length in a longer form than DER allows (BER)
len=$(wc -c <"$dir/genm_none.req1.der")
hdr=$(od -An -tx1 -N4 "$dir/genm_none.req1.der" | tr -d ' ')
case $hdr in
3081*)
  body=$((len - 3))
  { printf '\060\202\000'; printf "\\$(printf '%03o' "$body")"; tail -c "+4" \
    "$dir/genm_none.req1.der"; } >"$work/ber.der" ;;
3082*)
  { printf '\060\203\000'; tail -c "+3" "$dir/genm_none.req1.der"; } >"$work/ber.der" ;;
*) fail "unexpected header $hdr of genm_none.req1.der" ;;
esac
neg "non-minimal length" "$oracle" roundtrip "$work/ber.der"


# the same files do pass (so the failures above are the mutations' doing)
"$oracle" validate --secret pass:test "$dir/ir_mac.req1.der" "$dir/ir_mac.rsp1.der" \
  "$dir/poll.rsp2.der" >/dev/null || fail "ir_mac/poll do not validate"
"$oracle" validate --trusted "$dir/pki/root.crt" "$dir/ir_sig.req1.der" \
  "$dir/ip_chain.rsp1.der" >/dev/null || fail "ir_sig/ip_chain do not validate"
"$oracle" roundtrip "$dir/genm_none.req1.der" >/dev/null || fail "genm_none does not round-trip"

# usage errors
usage() { # usage CMD...: CMD must exit 2
  _rc=0
  "$@" >/dev/null 2>&1 || _rc=$?
  [ "$_rc" = 2 ] || fail "usage error '$*' exited $_rc"
}
usage "$oracle"
usage "$oracle" nosuchcommand
usage "$oracle" roundtrip
usage "$oracle" validate "$dir/ir_mac.req1.der"
usage "$oracle" validate --secret
usage "$oracle" validate --secret nopassprefix "$dir/ir_mac.req1.der"
usage "$oracle" validate --frobnicate "$dir/ir_mac.req1.der"
neg "missing file" "$oracle" roundtrip "$work/does-not-exist.der"

# info reports the header fields
info=$("$oracle" info "$dir/ir_mac.req1.der" "$dir/ip_chain.rsp1.der" "$dir/implicit_granted.rsp1.der")
for want in "body: ir" "protectionAlg: password based MAC" "senderKID: 74657374" \
  "pbm.iterationCount: 500" "body: ip" "extraCerts: 3" \
  "extraCerts[2]: /O=pkie test PKI/CN=pkie Test Root CA" "generalInfo: id-it-implicitConfirm"; do
  echo "$info" | grep -qxF "$want" || fail "info lacks '$want'"
done
echo "$info" | grep -q '^transactionID: [0-9a-f]\{32\}$' || fail "info: no 16-byte transactionID"
echo "$info" | grep -q '^recipNonce: [0-9a-f]\{32\}$' || fail "info: no recipNonce"
exit 0
