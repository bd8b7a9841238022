#!/bin/sh
# pkie_requests_oracle ORACLE: messages that pkie builds are accepted by
# OpenSSL's own CMP code. `pkie cmp` ($PKIE_BIN) runs transactions against
# OpenSSL's mock CMP server (which must accept them for the transaction to
# complete) with -reqout; then every request pkie built is checked by the
# oracle: expected body type, byte-identical d2i/i2d round trip, and
# OSSL_CMP_validate_msg with the secret (MAC) or the trust anchor (signature:
# ECDSA P-256, RSA PKCS#1 v1.5, Ed25519 signer certificates).
# Body types covered: ir, cr, kur, p10cr, rr, genm, certConf, pollReq.
set -eu
oracle=$1
src=${PKIE_SRC_DIR:?PKIE_SRC_DIR not set}
pkie=${PKIE_BIN:?PKIE_BIN not set}
lib=$src/tests/interop/lib
work=$(mktemp -d "${TMPDIR:-/tmp}/pkie_requests_oracle.XXXXXX")
CMPMOCK_NO_TRAP=1
. "$lib/cmpmock.sh"
trap 'cmpmock_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "pkie_requests_oracle: FAIL: $*" >&2
  exit 1
}
[ -x "$pkie" ] || fail "no pkie binary at $pkie"

P=$work/pki
sh "$lib/testpki.sh" "$P"
cmpmock_pki "$P"
out=$work/msgs
mkdir -p "$out"
CMPCLIENT_OUT=$out
CMPCLIENT_CMD="$pkie cmp"
SUBJ="/O=pkie test PKI/CN=pkie built"
EC="-newkey $P/new-ec.key"
signer() { echo "-cert $P/$1.crt -key $P/$1.key -untrusted $P/inter.crt -trusted $P/root.crt"; }
: >"$work/cases"

# case NAME PROT EXPECTED-REQUEST-BODIES -- OPTIONS: one pkie cmp transaction
case_() {
  _c=$1 _prot=$2 _want=$3
  shift 4
  cmpclient "$_c" "$@" -certout "$out/$_c.pem" || fail "$_c: pkie cmp failed"
  echo "$_c $_prot $_want" >>"$work/cases"
}

# A 3.0.19 mock that validated signed requests from several signers can crash
# (see cmpmock.sh): one mock per signer. It answers in kind (MAC / signature).
MOCK="$CMPMOCK_MAC $CMPMOCK_SIG -rsp_cert $P/new-ec.crt -accept_raverified"
cmpmock_start $MOCK
case_ ir_mac mac "ir certConf" -- -cmd ir $CMPCLIENT_MAC $EC -subject "$SUBJ"
case_ ir_mac_sha256 mac "ir certConf" -- -cmd ir $CMPCLIENT_MAC -mac hmac-sha256 -digest sha384 \
  $EC -subject "$SUBJ"
case_ ir_implicit mac "ir certConf" -- -cmd ir $CMPCLIENT_MAC $EC -subject "$SUBJ" -implicit_confirm
case_ genm_mac mac "genm" -- -cmd genm $CMPCLIENT_MAC -infotype signKeyPairTypes
case_ ir_sig sig "ir certConf" -- -cmd ir $(signer client) $EC -subject "$SUBJ"
case_ cr_sig sig "cr certConf" -- -cmd cr $(signer client) $EC -subject "$SUBJ"
case_ cr_raverified sig "cr certConf" -- -cmd cr $(signer client) $EC -subject "$SUBJ" -popo 0
case_ rr_sig sig "rr" -- -cmd rr $(signer client) -oldcert "$P/new-ec.crt" -revreason 1
case_ genm_sig sig "genm" -- -cmd genm $(signer client)
cmpmock_stop
cmpmock_start $MOCK
case_ cr_rsa sig "cr certConf" -- -cmd cr $(signer new-rsa) $EC -subject "$SUBJ"
cmpmock_stop
cmpmock_start $MOCK
case_ cr_ed25519 sig "cr certConf" -- -cmd cr $(signer new-ed25519) $EC -subject "$SUBJ"
cmpmock_stop
cmpmock_start $MOCK
case_ kur_sig sig "kur certConf" -- -cmd kur $(signer new-ec) $EC
cmpmock_stop
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-rsa.crt"
case_ ir_mac_rsa mac "ir certConf" -- -cmd ir $CMPCLIENT_MAC -newkey "$P/new-rsa.key" -subject "$SUBJ"
case_ p10cr_mac mac "p10cr certConf" -- -cmd p10cr $CMPCLIENT_MAC -csr "$P/new-rsa.csr"
cmpmock_stop
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ed25519.crt"
case_ ir_mac_ed25519 mac "ir certConf" -- -cmd ir $CMPCLIENT_MAC -newkey "$P/new-ed25519.key" \
  -subject "$SUBJ"
cmpmock_stop
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" -poll_count 2 -check_after 1
case_ poll mac "ir pollReq pollReq certConf" -- -cmd ir $CMPCLIENT_MAC $EC -subject "$SUBJ"
cmpmock_stop
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" -grant_implicitconf
case_ implicit_granted mac "ir" -- -cmd ir $CMPCLIENT_MAC $EC -subject "$SUBJ" -implicit_confirm
cmpmock_stop

# the oracle over every request pkie built (one call per check)
: >"$work/mac" && : >"$work/sig" && : >"$work/all"
while read -r c prot want; do
  n=1
  for b in $want; do
    f=$out/$c.req$n.der
    [ -f "$f" ] || fail "$c: request $n ($b) not saved"
    echo "$f $b" >>"$work/all"
    echo "$f" >>"$work/$prot"
    n=$((n + 1))
  done
  [ ! -f "$out/$c.req$n.der" ] || fail "$c: more requests than '$want'"
done <"$work/cases"

# shellcheck disable=SC2046
"$oracle" roundtrip $(cut -d' ' -f1 "$work/all") >"$work/rt.out" 2>&1 || {
  cat "$work/rt.out" >&2
  fail "OpenSSL does not round-trip what pkie built"
}
while read -r f b; do
  grep -qF "$f: OK $b " "$work/rt.out" || fail "$f: expected body $b: $(grep -F "$f:" "$work/rt.out")"
done <"$work/all"
# shellcheck disable=SC2046
"$oracle" validate --secret pass:test $(cat "$work/mac") >"$work/mac.out" 2>&1 || {
  cat "$work/mac.out" >&2
  fail "OpenSSL rejects the MAC protection pkie built"
}
# the intermediate as -untrusted, as the mock server has it (-srv_untrusted)
# shellcheck disable=SC2046
"$oracle" validate --trusted "$P/root.crt" --untrusted "$P/inter.crt" $(cat "$work/sig") \
  >"$work/sig.out" 2>&1 || {
  cat "$work/sig.out" >&2
  fail "OpenSSL rejects the signatures pkie built"
}
# and they fail with a wrong secret / an unrelated anchor (the check can fail)
if "$oracle" validate --secret pass:wrong "$out/ir_mac.req1.der" >/dev/null 2>&1; then
  fail "wrong secret accepted"
fi
if "$oracle" validate --trusted "$P/other-root.crt" "$out/cr_rsa.req1.der" >/dev/null 2>&1; then
  fail "unrelated trust anchor accepted"
fi
exit 0
