#!/bin/sh
# capture_roundtrip ORACLE: proves the CMP interop harness itself.
# Generates a fresh test PKI, captures every case of capture.sh live against
# OpenSSL's mock CMP server, then checks with the oracle (OpenSSL's own CMP
# code) that every captured message has the expected body type, decodes and
# re-encodes byte-identically, and verifies with the right secret or trust
# anchor; and that the checks do fail on a wrong secret, a wrong trust anchor,
# a flipped byte, a truncated message and a non-DER length.
set -eu
oracle=$1
src=${PKIE_SRC_DIR:?PKIE_SRC_DIR not set}
lib=$src/tests/interop/lib
work=$(mktemp -d "${TMPDIR:-/tmp}/capture_roundtrip.XXXXXX")
CMPMOCK_NO_TRAP=1
. "$lib/cmpmock.sh"
trap 'cmpmock_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "capture_roundtrip: FAIL: $*" >&2
  exit 1
}

out=$work/cap
if ! sh "$lib/capture.sh" "$out" >"$work/capture.log" 2>&1; then
  cat "$work/capture.log" >&2
  fail "capture.sh failed"
fi
P=$out/pki

# Expected body types of each case: requests / responses, in order.
expect() {
  case $1 in
  ir_mac | ir_mac_rsa | ir_mac_ed25519 | ir_mac_hmacsha256 | ir_unprot | implicit_denied | \
    certconf_reject | ir_sig | ip_chain) echo "ir certConf / ip pkiconf" ;;
  p10cr_mac | p10cr_sig) echo "p10cr certConf / cp pkiconf" ;;
  poll) echo "ir pollReq pollReq certConf / ip pollRep ip pkiconf" ;;
  implicit_granted | reject | reject_unprot) echo "ir / ip" ;;
  error_send | error_unprot) echo "ir / error" ;;
  genm_*) echo "genm / genp" ;;
  cr_sig | cr_raverified) echo "cr certConf / cp pkiconf" ;;
  kur_sig) echo "kur certConf / kup pkiconf" ;;
  rr_*) echo "rr / rp" ;;
  error_sig) echo "cr / error" ;;
  *) echo "?" ;;
  esac
}

ncases=0
nfiles=0
bad=
while read -r c reqp rspp status; do
  ncases=$((ncases + 1))
  got=
  for d in req rsp; do
    [ "$d" = rsp ] && got="$got /"
    case $d in req) prot=$reqp ;; *) prot=$rspp ;; esac
    n=1
    while [ -f "$out/$c.$d$n.der" ]; do
      f=$out/$c.$d$n.der
      nfiles=$((nfiles + 1))
      line=$("$oracle" roundtrip "$f") || bad="$bad
$line"
      set -- $line
      got="$got ${3:-?}"
      case $prot in
      mac) v=$("$oracle" validate --secret pass:test "$f") || bad="$bad
$v" ;;
      sig) v=$("$oracle" validate --trusted "$P/root.crt" "$f") || bad="$bad
$v" ;;
      none)
        v=$("$oracle" validate --secret pass:test --allow-unprotected "$f") || bad="$bad
$v"
        case $v in *UNPROTECTED) ;; *) bad="$bad
$f: expected an unprotected message: $v" ;; esac ;;
      esac
      n=$((n + 1))
    done
  done
  want=$(expect "$c")
  [ "${got# }" = "$want" ] || bad="$bad
$c: bodies '${got# }', expected '$want'"
done <"$out/cases.txt"

[ -z "$bad" ] || fail "$bad"
[ "$ncases" -ge 44 ] || fail "only $ncases cases captured"
[ "$nfiles" -ge 120 ] || fail "only $nfiles messages captured"

# ---- the checks must be able to fail ----
neg() { # neg DESCRIPTION CMD...: CMD must exit 1
  _d=$1
  shift
  _rc=0
  "$@" >"$work/neg.out" 2>&1 || _rc=$?
  [ "$_rc" = 1 ] || fail "negative check '$_d' exited $_rc: $(cat "$work/neg.out")"
}
neg "wrong secret" "$oracle" validate --secret pass:wrong "$out/ir_mac.req1.der"
neg "wrong secret on a response" "$oracle" validate --secret pass:tes "$out/poll.rsp2.der"
neg "unrelated trust anchor" "$oracle" validate --trusted "$P/other-root.crt" \
  "$out/ip_chain.rsp1.der"
neg "MAC message checked as signed" "$oracle" validate --trusted "$P/root.crt" \
  "$out/ir_mac.rsp1.der"
neg "unprotected without --allow-unprotected" "$oracle" validate --secret pass:test \
  "$out/error_unprot.rsp1.der"

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
len=$(wc -c <"$out/ir_mac.req1.der")
flip "$out/ir_mac.req1.der" "$work/flip_mac.der" $((len - 1))
neg "flipped MAC byte" "$oracle" validate --secret pass:test "$work/flip_mac.der"
off=$(tid_offset "$out/ir_sig.req1.der")
[ -n "$off" ] || fail "no transactionID found in ir_sig.req1.der"
flip "$out/ir_sig.req1.der" "$work/flip_sig.der" "$off"
"$oracle" roundtrip "$work/flip_sig.der" >/dev/null || fail "flipped transactionID must decode"
neg "flipped signed byte" "$oracle" validate --trusted "$P/root.crt" "$work/flip_sig.der"
off=$(tid_offset "$out/ir_mac.rsp1.der")
flip "$out/ir_mac.rsp1.der" "$work/flip_mac_tid.der" "$off"
neg "flipped MAC'd byte" "$oracle" validate --secret pass:test "$work/flip_mac_tid.der"
head -c 100 "$out/ir_mac.req1.der" >"$work/trunc.der"
neg "truncated message" "$oracle" roundtrip "$work/trunc.der"
cp "$out/ir_mac.req1.der" "$work/trail.der"
printf '\000\000' >>"$work/trail.der"
neg "trailing bytes" "$oracle" roundtrip "$work/trail.der"
# re-encode the outer length in a longer form than DER allows (BER)
len=$(wc -c <"$out/genm_none.req1.der")
hdr=$(od -An -tx1 -N4 "$out/genm_none.req1.der" | tr -d ' ')
case $hdr in
3081*)
  body=$((len - 3))
  { printf '\060\202\000'; printf "\\$(printf '%03o' "$body")"; tail -c "+4" \
    "$out/genm_none.req1.der"; } >"$work/ber.der" ;;
3082*)
  { printf '\060\203\000'; tail -c "+3" "$out/genm_none.req1.der"; } >"$work/ber.der" ;;
*) fail "unexpected header $hdr of genm_none.req1.der" ;;
esac
neg "non-minimal length" "$oracle" roundtrip "$work/ber.der"

# the harness: a mock that cannot start is reported, and nothing is left running
if cmpmock_start -no_such_option 2>"$work/neg.out"; then
  fail "cmpmock_start accepted a bad option"
fi
grep -q "did not start" "$work/neg.out" || fail "cmpmock_start: no diagnostic"
[ -z "$(echo $CMPMOCK_PIDS)" ] || fail "mock processes left: $CMPMOCK_PIDS"
exit 0
