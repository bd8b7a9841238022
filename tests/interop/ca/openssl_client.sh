#!/bin/sh
# Interop: the real `openssl cmp` client against `pkie ca serve`, every transaction:
# ir/cr/p10cr/kur/rr/genm, MAC (PasswordBasedMac) and signature protection,
# implicit confirmation and certConf, polling with manual approval and rejection,
# negative cases (bad MAC, unknown reference, policy, untrusted signer, garbage,
# oversized body), CRL over HTTP, the RFC 9811 profile path, and HTTPS.
set -u
. "$(dirname "$0")/lib.sh"

ca_init --intermediate
ca_serve
S="-server 127.0.0.1:$PORT -path pkix/"
MAC="-ref client1 -secret pass:s3cret"
C=$WORK
TRUST="-trusted $WORK/ca/root.crt -untrusted $WORK/ca/issuer.crt"
newkey "$C/k1.pem"
newkey "$C/k2.pem"
newkey "$C/k3.pem"

# --- enrollment with MAC
check "ir MAC implicitConfirm" openssl cmp -cmd ir $S $MAC -newkey "$C/k1.pem" \
  -subject "/CN=dev1/O=pkie" -implicit_confirm -certout "$C/c1.pem"
check "ir cert in DB, confirmed" sh -c "'$PKIE_BIN' ca list --dir '$WORK/ca' | grep 'confirmed.*CN=dev1,O=pkie'"
check "ir certificate chains to the root" openssl verify -CAfile "$WORK/ca/root.crt" \
  -untrusted "$WORK/ca/issuer.crt" "$C/c1.pem"
check "ir MAC with certConf, caPubs, extraCerts" openssl cmp -cmd ir $S $MAC -newkey "$C/k1.pem" \
  -subject "/CN=dev2/O=pkie" -sans "a.pkie.test" -certout "$C/c2.pem" \
  -cacertsout "$C/capubs.pem" -extracertsout "$C/extra.pem"
check "caPubs is the root" cmp -s "$C/capubs.pem" "$WORK/ca/root.crt"
check "SAN issued" sh -c "openssl x509 -in '$C/c2.pem' -noout -ext subjectAltName | grep -q a.pkie.test"
check "db holds exactly what the client got" db_has_cert "$C/c2.pem"

# --- other key types (Ed25519, RSA) and a refused one (RSA 1024)
openssl genpkey -algorithm ED25519 -out "$C/ked.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$C/krsa.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$C/kweak.pem" 2>/dev/null
check "ir Ed25519 key" openssl cmp -cmd ir $S $MAC -newkey "$C/ked.pem" -subject "/CN=ed/O=pkie" \
  -implicit_confirm -certout "$C/ced.pem"
check "  certificate carries the Ed25519 key" sh -c "openssl x509 -in '$C/ced.pem' -noout -text | grep -q ED25519"
check "ir RSA 2048 key" openssl cmp -cmd ir $S $MAC -newkey "$C/krsa.pem" -subject "/CN=rsa/O=pkie" \
  -implicit_confirm -certout "$C/crsa.pem"
refute "ir RSA 1024 key -> badAlg" "badAlg" openssl cmp -cmd ir $S $MAC -newkey "$C/kweak.pem" \
  -subject "/CN=weak/O=pkie" -certout "$C/x.pem"

# --- signature-protected cr, kur, rr
check "cr signed by an issued cert" openssl cmp -cmd cr $S -cert "$C/c2.pem" -key "$C/k1.pem" \
  $TRUST -newkey "$C/k2.pem" -subject "/CN=dev3/O=pkie" -certout "$C/c3.pem"
check "kur" openssl cmp -cmd kur $S -cert "$C/c3.pem" -key "$C/k2.pem" $TRUST \
  -newkey "$C/k3.pem" -certout "$C/c4.pem"
check "kur keeps the subject" sh -c "openssl x509 -in '$C/c4.pem' -noout -subject | grep -q 'CN = dev3'"
check "rr signed by the cert itself" openssl cmp -cmd rr $S -cert "$C/c4.pem" -key "$C/k3.pem" \
  $TRUST -oldcert "$C/c4.pem"
refute "rr again: already revoked" "certRevoked\|rejection\|untrusted\|not trusted\|signerNotTrusted" \
  openssl cmp -cmd rr $S $MAC -oldcert "$C/c4.pem"
refute "revoked signer refused" "signerNotTrusted" \
  openssl cmp -cmd cr $S -cert "$C/c4.pem" -key "$C/k3.pem" $TRUST -newkey "$C/k2.pem" \
  -subject "/CN=dev9/O=pkie" -certout "$C/x.pem" -unprotected_errors

# --- p10cr
openssl req -new -key "$C/k2.pem" -subj "/CN=dev5/O=pkie" -out "$C/csr.pem" 2>/dev/null
check "p10cr MAC" openssl cmp -cmd p10cr $S $MAC -csr "$C/csr.pem" -certout "$C/c5.pem"
check "rr MAC by the enrolling client" openssl cmp -cmd rr $S $MAC -oldcert "$C/c5.pem"

# --- CRL
check "GET /crl" curl -sf -o "$C/crl.der" "http://127.0.0.1:$PORT/crl"
check "CRL signed by the issuer, lists both revocations" sh -c "
  openssl crl -inform DER -in '$C/crl.der' -CAfile '$WORK/ca/issuer.crt' -noout 2>&1 | grep -q 'verify OK' &&
  test \$(openssl crl -inform DER -in '$C/crl.der' -noout -text | grep -c 'Serial Number') -eq 2"

# --- genm
for t in caCerts signKeyPairTypes certReqTemplate currentCRL; do
  check "genm $t" sh -c "openssl cmp -cmd genm $S $MAC -infotype $t 2>&1 | grep -q 'ITAV of type: id-it-$t'"
done

# --- manual approval and polling
printf 'm4nual\n' >"$C/secret2"
"$PKIE_BIN" ca client add --dir "$WORK/ca" --ref manual1 --secret-file "$C/secret2" \
  --subject-pattern "CN=*" --approval manual
# stdbuf: the client logs to stdout, which a file would buffer until its end
( stdbuf -oL openssl cmp -cmd ir $S -ref manual1 -secret pass:m4nual -newkey "$C/k1.pem" \
  -subject "/CN=waiter1" -certout "$C/cw1.pem" >"$C/poll1.log" 2>&1; echo "rc=$?" >>"$C/poll1.log" ) &
approve_pending waiter1 "$C/poll1.log" "received POLLREP"
check "polling client got its certificate after approval" grep -q "rc=0" "$C/poll1.log"
check "client polled" grep -q "received POLLREP" "$C/poll1.log"
( openssl cmp -cmd ir $S -ref manual1 -secret pass:m4nual -newkey "$C/k1.pem" \
  -subject "/CN=waiter2" -certout "$C/cw2.pem" >"$C/poll2.log" 2>&1; echo "rc=$?" >>"$C/poll2.log" ) &
p2=$!
i=0
while ! "$PKIE_BIN" ca pending list --dir "$WORK/ca" | grep -q waiter2; do
  i=$((i + 1)); [ $i -gt 600 ] && die "request waiter2 did not arrive"; sleep 0.1
done
id=$("$PKIE_BIN" ca pending list --dir "$WORK/ca" | awk '/waiter2/ {print $1}')
check "pending reject" "$PKIE_BIN" ca pending reject "$id" --dir "$WORK/ca" --reason "not today"
wait $p2
check "rejected client gets the operator's reason" grep -q "not today" "$C/poll2.log"
refute "reject without reason" "reason" "$PKIE_BIN" ca pending reject 1 --dir "$WORK/ca"

# --- negative
refute "bad MAC -> badMessageCheck" "badMessageCheck" openssl cmp -cmd ir $S -ref client1 \
  -secret pass:wrong -newkey "$C/k1.pem" -subject "/CN=x/O=pkie" -certout "$C/x.pem" -unprotected_errors
refute "unknown reference -> signerNotTrusted" "signerNotTrusted" openssl cmp -cmd ir $S -ref nobody \
  -secret pass:x -newkey "$C/k1.pem" -subject "/CN=x/O=pkie" -certout "$C/x.pem" -unprotected_errors
refute "subject outside pattern -> badCertTemplate" "badCertTemplate" openssl cmp -cmd ir $S $MAC \
  -newkey "$C/k1.pem" -subject "/CN=x/O=evil" -certout "$C/x.pem"
refute "SAN outside pattern" "badCertTemplate" openssl cmp -cmd ir $S $MAC \
  -newkey "$C/k1.pem" -subject "/CN=x/O=pkie" -sans "evil.example" -certout "$C/x.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/rogue.key" \
  -subj "/CN=rogue/O=pkie" -out "$C/rogue.crt" -days 2 2>/dev/null
refute "signature by a foreign certificate -> signerNotTrusted" "signerNotTrusted" \
  openssl cmp -cmd cr $S -cert "$C/rogue.crt" -key "$C/rogue.key" -trusted "$WORK/ca/root.crt" \
  -newkey "$C/k2.pem" -subject "/CN=x/O=pkie" -certout "$C/x.pem" -unprotected_errors
head -c 300 /dev/urandom >"$C/garbage"
check "garbage -> HTTP 200 with a signed CMP error (badDataFormat)" sh -c "
  curl -sf -H 'Content-Type: application/pkixcmp' --data-binary @'$C/garbage' \
    http://127.0.0.1:$PORT/pkix/ -o '$C/err.der' && openssl asn1parse -inform DER -in '$C/err.der' >/dev/null"
head -c 1100000 /dev/zero >"$C/big"
check "body over 1 MiB -> 413" sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' \
  -H 'Content-Type: application/pkixcmp' --data-binary @'$C/big' http://127.0.0.1:$PORT/pkix/)\" = 413"
check "server still serves after all that" openssl cmp -cmd ir $S $MAC -newkey "$C/k1.pem" \
  -subject "/CN=after/O=pkie" -implicit_confirm -certout "$C/c6.pem"

# --- RFC 9811 profile path
check "/.well-known/cmp/p/default" openssl cmp -cmd ir -server 127.0.0.1:$PORT \
  -path .well-known/cmp/p/default $MAC -newkey "$C/k1.pem" -subject "/CN=prof/O=pkie" \
  -implicit_confirm -certout "$C/c7.pem"
refute "profile not granted to the client -> notAuthorized" "notAuthorized" openssl cmp -cmd ir \
  -server 127.0.0.1:$PORT -path .well-known/cmp/p/tls $MAC -newkey "$C/k1.pem" \
  -subject "/CN=prof/O=pkie" -certout "$C/x.pem"

check "database integrity after the run" "$PKIE_BIN" ca check --dir "$WORK/ca"
ca_stop

# --- HTTPS
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/tls.key" \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" -out "$C/tls.crt" -days 2 2>/dev/null
ca_serve --tls-cert "$C/tls.crt" --tls-key "$C/tls.key"
check "ir over HTTPS" openssl cmp -cmd ir -server "https://127.0.0.1:$PORT" -path pkix/ \
  -tls_used -tls_trusted "$C/tls.crt" $MAC -newkey "$C/k1.pem" -subject "/CN=tls/O=pkie" \
  -implicit_confirm -certout "$C/c8.pem"
ca_stop

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
