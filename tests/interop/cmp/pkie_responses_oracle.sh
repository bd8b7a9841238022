#!/bin/sh
# pkie_responses_oracle ORACLE: responses that pkie builds are accepted by
# OpenSSL's own CMP code. `openssl cmp` runs transactions against
# `pkie ca serve` ($PKIE_BIN) with -rspout; every response pkie built is then
# checked by the oracle: expected body type, byte-identical d2i/i2d round trip
# and OSSL_CMP_validate_msg with the client's secret (MAC-protected requests
# are answered with MAC) or the CA's root (signed requests, errors to unknown
# references). Body types covered: ip, cp, kup, rp, genp, pkiconf, pollRep,
# error; ip with status accepted, waiting and rejection.
set -eu
oracle=$1
src=${PKIE_SRC_DIR:?PKIE_SRC_DIR not set}
pkie=${PKIE_BIN:?PKIE_BIN not set}
lib=$src/tests/interop/lib
work=$(mktemp -d "${TMPDIR:-/tmp}/pkie_responses_oracle.XXXXXX")
CMPMOCK_NO_TRAP=1
. "$lib/cmpmock.sh"
SERVER_PID=
POLLER=
stop_all() {
  [ -z "$POLLER" ] || kill "$POLLER" 2>/dev/null || true
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  cmpmock_cleanup
  rm -rf "$work"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "pkie_responses_oracle: FAIL: $*" >&2
  [ ! -f "$work/serve.log" ] || tail -20 "$work/serve.log" >&2
  exit 1
}
[ -x "$pkie" ] || fail "no pkie binary at $pkie"

export PKIE_CA_PASS=oracle-pass
ca=$work/ca
"$pkie" ca init --dir "$ca" --subject "/CN=Oracle Root/O=pkie" --intermediate >/dev/null ||
  fail "pkie ca init"
printf 's3cret\n' >"$work/secret"
"$pkie" ca client add --dir "$ca" --ref client1 --secret-file "$work/secret" \
  --subject-pattern "CN=*,O=pkie" >/dev/null || fail "pkie ca client add"
"$pkie" ca client add --dir "$ca" --ref waiter --secret-file "$work/secret" \
  --subject-pattern "CN=*,O=pkie" --approval manual >/dev/null || fail "pkie ca client add manual"
"$pkie" ca serve --dir "$ca" --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
SERVER_PID=$!
i=0
while ! grep -q '(port [0-9]*)' "$work/serve.log" 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -le 200 ] || fail "pkie ca serve did not start"
  kill -0 "$SERVER_PID" 2>/dev/null || fail "pkie ca serve exited"
  sleep 0.05
done
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$work/serve.log" | head -1)

out=$work/msgs
mkdir -p "$out"
CMPCLIENT_OUT=$out
CMPCLIENT_SERVER=127.0.0.1:$port/pkix/
MAC="-ref client1 -secret pass:s3cret"
for k in k1 k2 k3; do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$k.pem" 2>/dev/null
done
SIG="-key $work/k1.pem -trusted $ca/root.crt"
: >"$work/cases"
# case_ NAME PROT STATUS EXPECTED-RESPONSE-BODIES -- OPTIONS: one openssl cmp transaction
case_() {
  _c=$1 _prot=$2 _st=$3 _want=$4
  shift 5
  if [ "$_st" = ok ]; then
    cmpclient "$_c" "$@" || fail "$_c: openssl cmp against pkie ca failed"
  elif CMPCLIENT_EXPECT_FAIL=1 cmpclient "$_c" "$@"; then
    fail "$_c: openssl cmp succeeded but should have been refused"
  fi
  echo "$_c $_prot $_want" >>"$work/cases"
}

case_ ir_mac mac ok "ip pkiconf" -- -cmd ir $MAC -newkey "$work/k1.pem" -subject "/CN=one/O=pkie" \
  -certout "$work/one.pem"
case_ ir_implicit mac ok "ip" -- -cmd ir $MAC -newkey "$work/k2.pem" -subject "/CN=two/O=pkie" \
  -implicit_confirm -certout "$work/two.pem"
case_ genm_mac mac ok "genp" -- -cmd genm $MAC -infotype caCerts
case_ cr_sig sig ok "cp pkiconf" -- -cmd cr -cert "$work/one.pem" $SIG -newkey "$work/k3.pem" \
  -subject "/CN=three/O=pkie" -certout "$work/three.pem"
case_ kur_sig sig ok "kup pkiconf" -- -cmd kur -cert "$work/one.pem" $SIG -newkey "$work/k3.pem" \
  -certout "$work/four.pem"
case_ rr_sig sig ok "rp" -- -cmd rr -cert "$work/three.pem" -key "$work/k3.pem" \
  -trusted "$ca/root.crt" -oldcert "$work/two.pem" -revreason 1
case_ genm_sig sig ok "genp" -- -cmd genm -cert "$work/three.pem" -key "$work/k3.pem" \
  -trusted "$ca/root.crt" -infotype signKeyPairTypes
case_ ir_refused mac fail "ip" -- -cmd ir $MAC -newkey "$work/k1.pem" -subject "/CN=x/O=other" \
  -certout "$work/x.pem"
case_ ir_unknown_ref sig fail "error" -- -cmd ir -ref nobody -secret pass:s3cret \
  -newkey "$work/k1.pem" -subject "/CN=x/O=pkie" -certout "$work/x.pem" -trusted "$ca/root.crt" \
  -unprotected_errors

# polling: a client registered for manual approval waits until approved
(
  i=0
  while ! "$pkie" ca pending list --dir "$ca" 2>/dev/null | grep -q polled; do
    i=$((i + 1))
    [ "$i" -le 300 ] || exit 1
    sleep 0.1
  done
  id=$("$pkie" ca pending list --dir "$ca" | awk '/polled/ {print $1; exit}')
  i=0 # approve only after the first pollRep (-rspout writes each response as it arrives)
  while [ ! -s "$out/poll.rsp2.der" ]; do
    i=$((i + 1))
    [ "$i" -le 300 ] || exit 1
    sleep 0.1
  done
  "$pkie" ca pending approve "$id" --dir "$ca" >/dev/null
) &
POLLER=$!
case_ poll mac ok "ip pollRep* ip pkiconf" -- -cmd ir -ref waiter -secret pass:s3cret \
  -newkey "$work/k2.pem" -subject "/CN=polled/O=pkie" -certout "$work/polled.pem"
wait "$POLLER" || fail "approval helper failed"
POLLER=

# the oracle over every response (one call per check)
: >"$work/mac" && : >"$work/sig" && : >"$work/all"
while read -r c prot want; do
  n=1
  while [ -f "$out/$c.rsp$n.der" ]; do
    echo "$out/$c.rsp$n.der" >>"$work/all"
    echo "$out/$c.rsp$n.der" >>"$work/$prot"
    n=$((n + 1))
  done
done <"$work/cases"
# shellcheck disable=SC2046
"$oracle" roundtrip $(cat "$work/all") >"$work/rt.out" 2>&1 || {
  cat "$work/rt.out" >&2
  fail "OpenSSL does not round-trip what pkie ca built"
}
# body sequence per case ("pollRep*": one or more pollRep)
while read -r c prot want; do
  got=$(grep "/$c\.rsp[0-9]*\.der: OK " "$work/rt.out" | sed 's/^.*\.rsp\([0-9]*\)\.der: OK \([A-Za-z]*\) .*/\1 \2/' |
    sort -n | awk '{printf "%s%s", (NR > 1 ? " " : ""), $2}')
  norm=$(echo "$got" | sed 's/\(pollRep \)\{1,\}/pollRep* /; s/pollRep$/pollRep*/')
  [ "$norm" = "$want" ] || fail "$c: responses '$got', expected '$want'"
done <"$work/cases"
# shellcheck disable=SC2046
"$oracle" validate --secret pass:s3cret $(cat "$work/mac") >"$work/mac.out" 2>&1 || {
  cat "$work/mac.out" >&2
  fail "OpenSSL rejects the MAC protection pkie ca built"
}
# shellcheck disable=SC2046
"$oracle" validate --trusted "$ca/root.crt" $(cat "$work/sig") >"$work/sig.out" 2>&1 || {
  cat "$work/sig.out" >&2
  fail "OpenSSL rejects the signatures pkie ca built"
}
if "$oracle" validate --secret pass:wrong "$out/ir_mac.rsp1.der" >/dev/null 2>&1; then
  fail "wrong secret accepted"
fi
exit 0
