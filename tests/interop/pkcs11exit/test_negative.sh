#!/bin/sh
# Interop, negative: startup fails with a clear message for a wrong PIN, a
# missing key, a missing token, an open PIN file, a malformed conf string or a
# library that is no PKCS#11 module; a token key that does not match the chain
# (or is of another type) makes the host refuse each session, and the monitor
# goes on serving the next one.
. "$(dirname "$0")/../exit/lib.sh"
. "$S/tests/interop/pkcs11exit/lib.sh"

# startup_fails NAME CONFSTRING TEXT...: tlsdrv load fails and prints each TEXT
startup_fails() {
  n=$1 cs=$2
  shift 2
  p11conf "$n" "$cs"
  if "$DRV" load --conf "$W/$n.conf" >"$W/$n.out" 2>&1; then
    echo "  loaded, unexpectedly"
    return 1
  fi
  if grep -q "Sanitizer" "$W/$n.out"; then
    echo "  sanitizer report: $(cat "$W/$n.out")"
    return 1
  fi
  for t in "$@"; do
    grep -q -- "$t" "$W/$n.out" || { echo "  no \"$t\" in: $(cat "$W/$n.out")"; return 1; }
  done
}
good="module=$MODULE token=pkie-test key=srv-ec chain=$P/srv-ec.chain.pem"
p11conf good "$good pin-file=$W/pin"
check "control: the good configuration loads" sh -c "'$DRV' load --conf '$W/good.conf' >/dev/null 2>&1"

echo 4321 >"$W/badpin"
chmod 600 "$W/badpin"
check "wrong PIN: startup fails naming C_Login and CKR_PIN_INCORRECT" \
  startup_fails badpin "$good pin-file=$W/badpin" "refused to start" "pkcs11 exit: C_Login: CKR_PIN_INCORRECT (0xa0)"
check "missing key label: startup fails" \
  startup_fails nokey "module=$MODULE token=pkie-test key=nope chain=$P/srv-ec.chain.pem pin-file=$W/pin" \
  'token "pkie-test": no private key labelled "nope"'
check "missing CKA_ID: startup fails" \
  startup_fails noid "module=$MODULE token=pkie-test key-id=0102 chain=$P/srv-ec.chain.pem pin-file=$W/pin" \
  "no private key with CKA_ID 0102"
check "missing token: startup fails" \
  startup_fails notoken "module=$MODULE token=other key=srv-ec chain=$P/srv-ec.chain.pem pin-file=$W/pin" \
  'no token labelled "other"'
cp "$W/pin" "$W/openpin"
chmod 644 "$W/openpin"
check "PIN file readable by others: startup fails" \
  startup_fails openpin "$good pin-file=$W/openpin" "mode 0644 lets group or others access it"
check "PIN variable not set: startup fails" \
  startup_fails noenv "$good pin-env=PKIE_NO_SUCH_PIN" "environment variable PKIE_NO_SUCH_PIN is not set"
check "PIN in the conf string: startup fails" \
  startup_fails pinconf "$good pin=1234" "pki.exit.conf: at byte" "the PIN never goes in the configuration string"
check "malformed conf string: startup fails" \
  startup_fails malformed "$good pin-file=$W/pin token=again" "token= given twice"
check "not a PKCS#11 module: startup fails" \
  startup_fails notp11 "module=$EXITS/default.so token=pkie-test key=srv-ec chain=$P/srv-ec.chain.pem pin-file=$W/pin" \
  "exports no C_GetFunctionList"
check "missing module: startup fails" \
  startup_fails nomod "module=/nonexistent/p11.so token=pkie-test key=srv-ec chain=$P/srv-ec.chain.pem pin-file=$W/pin" \
  "module /nonexistent/p11.so"
check "missing chain file: startup fails" \
  startup_fails nochain "module=$MODULE token=pkie-test key=srv-ec chain=$W/none.pem pin-file=$W/pin" \
  "chain $W/none.pem: cannot open"
check "chain file without a certificate: startup fails" \
  startup_fails keychain "module=$MODULE token=pkie-test key=srv-ec chain=$W/pin pin-file=$W/pin" \
  "no PEM certificate"

# A token key that does not belong to the chain's leaf: the exit signs, the
# host's check (signature against the leaf) refuses the session, the next
# session is served (and refused the same way), the monitor stays up.
p11conf mismatch "$(p11str other srv-ec.chain.pem)"
server mismatch 2 --cert-id srv-ec --ca-id root
sclient tls1_3 cli-ec
cp "$W/sc.out" "$W/sc1.out"
sclient tls1_2 cli-ec
server_wait || true
cp "$W/srv.out" "$W/mismatch.srv.out"
check "mismatching key: session 1 refused by the host" has srv.out "session 1 refused"
check "mismatching key: session 2 served, refused too" has srv.out "session 2 refused"
check "mismatching key: the host's reason is the leaf check" \
  has srv.out "session 1 refused: .*signature does not verify with the leaf key"
check "mismatching key: the server ends normally after both" has srv.out "served ok=0 refused=2"
check "mismatching key: no sanitizer report" hasnt srv.out "Sanitizer"
check "mismatching key: the peer got no answer" sh -c "! grep -q pong '$W/sc1.out' '$W/sc.out'"
check "mismatching key: the token did sign (the host refused the signature)" \
  test "$(count_log 'mech=CKM_ECDSA ok')" = 2

# A token key of another type (RSA) for an EC leaf: the exit refuses CryptData.
rm -f "$W/sign.log"
p11conf wrongtype "$(p11str srv-rsa srv-ec.chain.pem)"
server wrongtype 1 --cert-id srv-ec --ca-id root
sclient tls1_3 cli-ec
server_wait || true
check "RSA key for an EC leaf: session refused" has srv.out "session 1 refused"
check "RSA key for an EC leaf: the exit's error names the mismatch" \
  grep -q "needs an EC key, the token key is RSA" "$W/srv.out"
check "RSA key for an EC leaf: no sanitizer report" hasnt srv.out "Sanitizer"
finish
