#!/bin/sh
# Interop: OpenSSL 3.5's `openssl cmp` client (scripts/peers.sh openssl35, built from Debian
# 13's source package) against `pkie ca serve`: ir, cr, kur, p10cr (certConf with
# certReqId -1), rr by certificate and by -issuer/-serial, every RFC 9483 genm type (caCerts,
# rootCaCert, certReqTemplate with -keyspec, crlStatusList with -crlcert and with -oldcrl),
# -profile, implicit confirmation, polling under manual approval, and MAC protection in kind
# (SHA-2 PBM, PBMAC1). OpenSSL 3.0's client: openssl_client.sh; central key generation:
# centralkeygen.sh.
set -u
. "$(dirname "$0")/lib.sh"
O35=$(sh "$PKIE_SRC_DIR/scripts/peers.sh" openssl35) || die "no OpenSSL 3.5 (scripts/peers.sh)"

ca_init --intermediate
printf 'm4nual\n' >"$WORK/secret2"
"$PKIE_BIN" ca client add --dir "$WORK/ca" --ref manual1 --secret-file "$WORK/secret2" \
  --subject-pattern "CN=*,O=pkie" --approval manual || die "client add manual"
printf 't1s\n' >"$WORK/secret3"
"$PKIE_BIN" ca client add --dir "$WORK/ca" --ref tls1 --secret-file "$WORK/secret3" \
  --subject-pattern "CN=*,O=pkie" --profile tls || die "client add tls"
ca_serve --crl-url "http://127.0.0.1/crl"
C=$WORK
S="-config /dev/null -server 127.0.0.1:$PORT -path pkix/"
MAC="-ref client1 -secret pass:s3cret"
TRUST="-trusted $WORK/ca/root.crt -untrusted $WORK/ca/issuer.crt"
o35() { "$O35" cmp $S "$@"; }
newkey "$C/k1.pem"
newkey "$C/k2.pem"
newkey "$C/k3.pem"
days() { # days of validity of certificate $1
  nb=$(date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s)
  na=$(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)
  echo $(((na - nb + 43200) / 86400))
}

# --- enrollment
check "ir MAC with certConf" o35 -cmd ir $MAC $TRUST -newkey "$C/k1.pem" \
  -subject "/CN=i35/O=pkie" -certout "$C/c1.pem"
check "  confirmed in the CA" sh -c "'$PKIE_BIN' ca list --dir '$WORK/ca' | grep 'confirmed.*CN=i35,O=pkie'"
check "ir MAC implicitConfirm" o35 -cmd ir $MAC $TRUST -newkey "$C/k1.pem" -implicit_confirm \
  -subject "/CN=i35imp/O=pkie" -certout "$C/c1i.pem"
check "ir PBM owf SHA-512, HMAC-SHA256 (answer in kind)" o35 -cmd ir $MAC $TRUST \
  -newkey "$C/k1.pem" -subject "/CN=i35sha2/O=pkie" -digest sha512 -mac hmacWithSHA256 \
  -certout "$C/c1s.pem" -rspout "$C/sha2.rsp1,$C/sha2.rsp2"
check "  answered with owf SHA-512 and HMAC-SHA256" sh -c "
  for r in '$C/sha2.rsp1' '$C/sha2.rsp2'; do
    openssl asn1parse -inform DER -in \$r | grep -A8 'password based MAC' | grep -q ':sha512' &&
    openssl asn1parse -inform DER -in \$r | grep -q ':hmacWithSHA256' || exit 1
  done"
check "cr signed" o35 -cmd cr -cert "$C/c1.pem" -key "$C/k1.pem" $TRUST -newkey "$C/k2.pem" \
  -subject "/CN=i35cr/O=pkie" -certout "$C/c2.pem"
check "kur signed" o35 -cmd kur -cert "$C/c2.pem" -key "$C/k2.pem" $TRUST -newkey "$C/k3.pem" \
  -certout "$C/c3.pem"
check "  kur keeps the subject" sh -c "openssl x509 -in '$C/c3.pem' -noout -subject | grep -q 'CN = i35cr'"
openssl req -new -key "$C/k2.pem" -subj "/CN=i35p10/O=pkie" -out "$C/csr.pem" 2>/dev/null
check "p10cr (certConf with certReqId -1)" o35 -cmd p10cr $MAC $TRUST -csr "$C/csr.pem" \
  -certout "$C/c5.pem" -reqout "$C/p10.req1,$C/p10.req2" -rspout "$C/p10.rsp1,$C/p10.rsp2"
check "  the cp says certReqId -1, the certConf too" sh -c "
  openssl asn1parse -inform DER -in '$C/p10.rsp1' | grep -q 'INTEGER *:-01' &&
  openssl asn1parse -inform DER -in '$C/p10.req2' | grep -q 'INTEGER *:-01'"
check "  p10cr certificate confirmed" sh -c "'$PKIE_BIN' ca list --dir '$WORK/ca' | grep 'confirmed.*CN=i35p10,O=pkie'"

# --- profiles
check "-profile tls (certProfile)" o35 -cmd ir -ref tls1 -secret pass:t1s $TRUST \
  -newkey "$C/k1.pem" -subject "/CN=i35tls/O=pkie" -profile tls -certout "$C/ctls.pem"
check "  90 days" test "$(days "$C/ctls.pem")" -eq 90
refute "-profile not granted to the client" "notAuthorized" o35 -cmd ir $MAC $TRUST \
  -newkey "$C/k1.pem" -subject "/CN=i35x/O=pkie" -profile tls -certout "$C/x.pem"

# --- revocation
check "rr by certificate (signed by it)" o35 -cmd rr -cert "$C/c3.pem" -key "$C/k3.pem" $TRUST \
  -oldcert "$C/c3.pem"
serial=$(openssl x509 -in "$C/c5.pem" -noout -serial | cut -d= -f2)
issuer=$(openssl x509 -in "$C/c5.pem" -noout -issuer -nameopt compat | sed 's/^issuer=//')
check "rr by -issuer and -serial (MAC)" o35 -cmd rr $MAC $TRUST -issuer "$issuer" \
  -serial "0x$serial"
check "  both revoked" sh -c "test \$('$PKIE_BIN' ca list --dir '$WORK/ca' | grep -c 'revoked.*CN=i35\(cr\|p10\)') -eq 2"

# --- genm, every RFC 9483 type
check "genm caCerts" o35 -cmd genm $MAC $TRUST -infotype caCerts -cacertsout "$C/cacerts.pem"
check "  issuer and root" test "$(grep -c 'BEGIN CERT' "$C/cacerts.pem")" -eq 2
check "genm rootCaCert (no update)" sh -c "'$O35' cmp $S $MAC $TRUST -infotype rootCaCert \
  -cmd genm -oldwithold '$WORK/ca/root.crt' -newwithnew '$C/nwn.pem' 2>&1 |
  grep -q 'no root CA certificate update available'"
check "genm certReqTemplate with -template and -keyspec" o35 -cmd genm $MAC $TRUST \
  -infotype certReqTemplate -template "$C/tmpl.der" -keyspec "$C/keyspec.der"
check "  keySpec names EC P-256" sh -c "openssl asn1parse -inform DER -in '$C/keyspec.der' | grep -q prime256v1"
check "genm crlStatusList with -crlcert" o35 -cmd genm $MAC $TRUST -infotype crlStatusList \
  -crlcert "$C/c1.pem" -crlout "$C/crl1.der"
check "  the CRL lists the revocations" sh -c "
  test \$(openssl crl -inform DER -in '$C/crl1.der' -noout -text | grep -c 'Serial Number') -ge 2"
check "genm crlStatusList with -oldcrl" o35 -cmd genm $MAC $TRUST -infotype crlStatusList \
  -oldcrl "$C/crl1.der" -crlout "$C/crl2.der"

# --- polling under manual approval
# stdbuf: the client logs to stdout, which a file would buffer until its end
( stdbuf -oL "$O35" cmp $S -cmd ir -ref manual1 -secret pass:m4nual $TRUST -newkey "$C/k1.pem" \
  -subject "/CN=i35poll/O=pkie" -certout "$C/cpoll.pem" >"$C/poll.log" 2>&1
  echo "rc=$?" >>"$C/poll.log" ) &
approve_pending i35poll "$C/poll.log" "received POLLREP"
check "polled until approved" grep -q "rc=0" "$C/poll.log"
check "  pollReq/pollRep seen" grep -q "received POLLREP" "$C/poll.log"

echo "openssl35_client: $fails failure(s)"
[ "$fails" -eq 0 ]
