#!/bin/sh
# Interop: OpenSSL 3.5's `openssl cmp -centralkeygen` against `pkie ca serve` (RFC 9483 4.1.6):
# the CA generates the key and returns it in an EnvelopedData to the client's EC certificate
# (key agreement), RSA certificate (key transport) or, for a MAC-protected ir, to the MAC
# secret (password); the key type from -newkey's algorithm; manual approval with polling;
# refusals (client not granted, Ed25519 signer, POPO with no key); and the generated keys are
# nowhere in the CA's database files or its log. pkie cmp -centralkeygen against the same
# server for each recipient kind.
set -u
. "$(dirname "$0")/lib.sh"
O35=$(sh "$PKIE_SRC_DIR/scripts/peers.sh" openssl35) || die "no OpenSSL 3.5 (scripts/peers.sh)"

ca_init --intermediate --central-keygen allow
printf 'n0keygen\n' >"$WORK/secret2"
"$PKIE_BIN" ca client add --dir "$WORK/ca" --ref nokeygen --secret-file "$WORK/secret2" \
  --subject-pattern "CN=*,O=pkie" || die "client add nokeygen"
printf 'm4nual\n' >"$WORK/secret3"
"$PKIE_BIN" ca client add --dir "$WORK/ca" --ref manual1 --secret-file "$WORK/secret3" \
  --subject-pattern "CN=*,O=pkie" --approval manual --central-keygen allow || die "client add manual"
ca_serve
C=$WORK
S="-config \"\" -server 127.0.0.1:$PORT -path pkix/"
MAC="-ref client1 -secret pass:s3cret"
TRUST="-trusted $WORK/ca/root.crt -untrusted $WORK/ca/issuer.crt"
pub() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | od -An -tx1 | tr -d ' \n'; }
certpub() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | od -An -tx1 | tr -d ' \n'; }
# matches KEY CERT KIND: KEY is a private key of KIND ("EC", "RSA") for CERT, mode 0600
matches() {
  [ -n "$(pub "$1")" ] && [ "$(pub "$1")" = "$(certpub "$2")" ] &&
    openssl pkey -in "$1" -noout -text | head -1 | grep -q "$3" &&
    [ "$(stat -c %a "$1")" = 600 ]
}
o35() { eval "\"$O35\" cmp $S $*"; }
pkiecmp() { eval "\"$PKIE_BIN\" cmp $S $*"; }

# --- client certificates to protect the requests with: EC and RSA
newkey "$C/kec.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$C/krsa.pem" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$C/ked.pem" 2>/dev/null
for k in ec rsa ed; do
  o35 -cmd ir $MAC -newkey "$C/k$k.pem" -subject "/CN=$k-client/O=pkie" -implicit_confirm \
    -certout "$C/c$k.pem" >"$C/enroll-$k.log" 2>&1 || die "enrolling the $k client"
done

# --- OpenSSL 3.5 client, each recipient kind
check "openssl: MAC ir, key to the secret (pwri)" o35 -cmd ir $MAC $TRUST -centralkeygen \
  -newkeyout "$C/o-mac.key" -subject "/CN=o-mac/O=pkie" -certout "$C/o-mac.crt"
check "  key matches the certificate, EC P-256 (the profile's default), 0600" \
  matches "$C/o-mac.key" "$C/o-mac.crt" "256 bit"
check "openssl: cr signed by an EC certificate (kari)" o35 -cmd cr -cert "$C/cec.pem" \
  -key "$C/kec.pem" $TRUST -centralkeygen -newkeyout "$C/o-ec.key" -subject "/CN=o-ec/O=pkie" \
  -certout "$C/o-ec.crt"
check "  key matches the certificate" matches "$C/o-ec.key" "$C/o-ec.crt" "256 bit"
check "openssl: cr signed by an RSA certificate (ktri), key type of the signer's key" \
  o35 -cmd cr -cert "$C/crsa.pem" -key "$C/krsa.pem" $TRUST -centralkeygen \
  -newkeyout "$C/o-rsa.key" -subject "/CN=o-rsa/O=pkie" -certout "$C/o-rsa.crt"
check "  key matches the certificate (RSA 3072)" matches "$C/o-rsa.key" "$C/o-rsa.crt" "3072 bit"
check "openssl: -newkey gives the algorithm (RSA) for an EC signer" o35 -cmd cr \
  -cert "$C/cec.pem" -key "$C/kec.pem" $TRUST -centralkeygen -newkey "$C/krsa.pem" \
  -newkeyout "$C/o-alg.key" -subject "/CN=o-alg/O=pkie" -certout "$C/o-alg.crt"
check "  RSA key for the certificate" matches "$C/o-alg.key" "$C/o-alg.crt" "3072 bit"
check "openssl: kur with central key generation" o35 -cmd kur -cert "$C/o-ec.crt" \
  -key "$C/o-ec.key" $TRUST -centralkeygen -newkeyout "$C/o-kur.key" -certout "$C/o-kur.crt"
check "  key matches the certificate" matches "$C/o-kur.key" "$C/o-kur.crt" "256 bit"

# --- refusals
refute "client without --central-keygen allow: notAuthorized" "notAuthorized" \
  o35 -cmd ir -ref nokeygen -secret pass:n0keygen $TRUST -centralkeygen \
  -newkeyout "$C/x.key" -subject "/CN=x/O=pkie" -certout "$C/x.crt"
refute "Ed25519 signer: the key cannot be encrypted to it" "cannot be encrypted" \
  o35 -cmd cr -cert "$C/ced.pem" -key "$C/ked.pem" $TRUST -centralkeygen \
  -newkeyout "$C/x.key" -subject "/CN=x/O=pkie" -certout "$C/x.crt"

# --- manual approval: the key is made when the request is approved, at the poll
( o35 -cmd ir -ref manual1 -secret pass:m4nual $TRUST -centralkeygen \
  -newkeyout "$C/o-poll.key" -subject "/CN=o-poll/O=pkie" -certout "$C/o-poll.crt" \
  >"$C/poll.log" 2>&1; echo "rc=$?" >>"$C/poll.log" ) &
approve_pending o-poll "$C/poll.log"
check "openssl: polled, key received" grep -q "rc=0" "$C/poll.log"
check "  key matches the certificate" matches "$C/o-poll.key" "$C/o-poll.crt" "256 bit"

# --- pkie cmp against the same server
check "pkie cmp: MAC ir (pwri)" pkiecmp -cmd ir $MAC $TRUST -centralkeygen \
  -newkeyout "$C/p-mac.key" -subject "/CN=p-mac/O=pkie" -certout "$C/p-mac.crt"
check "  key matches the certificate" matches "$C/p-mac.key" "$C/p-mac.crt" "256 bit"
check "pkie cmp: cr with an EC certificate (kari)" pkiecmp -cmd cr -cert "$C/cec.pem" \
  -key "$C/kec.pem" $TRUST -centralkeygen -newkeyout "$C/p-ec.key" \
  -subject "/CN=p-ec/O=pkie" -certout "$C/p-ec.crt"
check "  key matches the certificate" matches "$C/p-ec.key" "$C/p-ec.crt" "256 bit"
check "pkie cmp: cr with an RSA certificate (ktri)" pkiecmp -cmd cr -cert "$C/crsa.pem" \
  -key "$C/krsa.pem" $TRUST -centralkeygen -newkeyout "$C/p-rsa.key" \
  -subject "/CN=p-rsa/O=pkie" -certout "$C/p-rsa.crt"
check "  key matches the certificate" matches "$C/p-rsa.key" "$C/p-rsa.crt" "3072 bit"
refute "pkie cmp: KGA not under -trusted refused" "does not chain" \
  pkiecmp -cmd ir $MAC -trusted "$C/crsa.pem" -centralkeygen -newkeyout "$C/p-x.key" \
  -subject "/CN=p-x/O=pkie" -certout "$C/p-x.crt"
check "  no key written" test ! -e "$C/p-x.key"

# --- the generated keys are in no file of the CA (database, WAL, log)
ca_stop
hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }
for f in "$WORK"/ca/* "$WORK/serve.log"; do hexof "$f"; done >"$C/cafiles.hex"
found=0
for k in o-mac o-ec o-rsa o-alg o-kur o-poll p-mac p-ec p-rsa; do
  openssl pkey -in "$C/$k.key" -outform DER -out "$C/$k.der" 2>/dev/null
  # PKCS#8 DER, and the secret itself: the EC scalar / the RSA private exponent
  if openssl pkey -in "$C/$k.key" -noout -text | grep -q "^modulus:"; then
    secret=$(openssl rsa -in "$C/$k.key" -noout -text 2>/dev/null |
      sed -n '/^privateExponent:/,/^prime1:/p' | sed '1d;$d' | tr -d ' :\n' | cut -c 3-66)
  else
    secret=$(openssl ec -in "$C/$k.key" -noout -text 2>/dev/null |
      sed -n '/^priv:/,/^pub:/p' | sed '1d;$d' | tr -d ' :\n')
  fi
  [ ${#secret} -ge 40 ] || { bad "could not read the secret of $k"; continue; }
  if grep -q "$(hexof "$C/$k.der")" "$C/cafiles.hex" || grep -q "$secret" "$C/cafiles.hex"; then
    bad "generated key $k found in the CA's files"
    found=1
  fi
done
[ $found = 0 ] && ok "no generated key in ca.db, its WAL or the server log"

echo "centralkeygen: $fails failure(s)"
[ "$fails" -eq 0 ]
