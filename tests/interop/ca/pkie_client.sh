#!/bin/sh
# Interop: `pkie cmp` (our client) against `pkie ca serve`: ir with certConf and
# with implicitConfirm, PBMAC1, cr/kur signed, rr, genm, p10cr, and a refused subject.
set -u
. "$(dirname "$0")/lib.sh"
"$PKIE_BIN" cmp -help >/dev/null 2>&1 || die "pkie cmp is not built into $PKIE_BIN"
ca_init --intermediate
ca_serve
S="-server 127.0.0.1:$PORT -path pkix/"
MAC="-ref client1 -secret pass:s3cret"
C=$WORK
TRUST="-trusted $WORK/ca/root.crt -untrusted $WORK/ca/issuer.crt"
newkey "$C/k.pem"
newkey "$C/k2.pem"
check "pkie cmp ir (certConf)" "$PKIE_BIN" cmp -cmd ir $S $MAC -newkey "$C/k.pem" \
  -subject "/CN=p1/O=pkie" -certout "$C/c1.pem"
check "  stored and confirmed" sh -c "'$PKIE_BIN' ca list --dir '$WORK/ca' | grep -q 'confirmed.*CN=p1,O=pkie'"
check "pkie cmp ir implicitConfirm" "$PKIE_BIN" cmp -cmd ir $S $MAC -newkey "$C/k.pem" \
  -subject "/CN=p2/O=pkie" -implicit_confirm -certout "$C/c2.pem"
check "pkie cmp ir PBMAC1" "$PKIE_BIN" cmp -cmd ir $S $MAC -pbmac1 -newkey "$C/k.pem" \
  -subject "/CN=p3/O=pkie" -certout "$C/c3.pem"
check "pkie cmp cr signed" "$PKIE_BIN" cmp -cmd cr $S -cert "$C/c1.pem" -key "$C/k.pem" $TRUST \
  -newkey "$C/k2.pem" -subject "/CN=p4/O=pkie" -certout "$C/c4.pem"
check "pkie cmp kur" "$PKIE_BIN" cmp -cmd kur $S -cert "$C/c4.pem" -key "$C/k2.pem" $TRUST \
  -newkey "$C/k.pem" -certout "$C/c5.pem"
check "pkie cmp rr" "$PKIE_BIN" cmp -cmd rr $S $MAC -oldcert "$C/c5.pem"
check "  revoked in the DB" sh -c "'$PKIE_BIN' ca list --dir '$WORK/ca' --revoked | grep -q 'CN=p4'"
check "pkie cmp genm caCerts" "$PKIE_BIN" cmp -cmd genm $S $MAC -infotype caCerts -cacertsout "$C/ca.pem"
openssl req -new -key "$C/k.pem" -subj "/CN=p6/O=pkie" -out "$C/csr.pem" 2>/dev/null
check "pkie cmp p10cr" "$PKIE_BIN" cmp -cmd p10cr $S $MAC -csr "$C/csr.pem" -certout "$C/c6.pem"
refute "pkie cmp: subject outside the pattern is refused" "badCertTemplate\|rejection\|reject" \
  "$PKIE_BIN" cmp -cmd ir $S $MAC -newkey "$C/k.pem" -subject "/CN=x/O=evil" -certout "$C/x.pem"
check "database integrity" "$PKIE_BIN" ca check --dir "$WORK/ca"

# an Ed25519 CA: its certificates are signed without a hash, so certConf names the hash it
# used (hashAlg SHA-512) and says pvno 3 (RFC 9810 5.3.18)
ca_stop
mv "$WORK/ca" "$WORK/ca-ec"
ca_new_store
"$PKIE_BIN" ca init --dir "$WORK/ca" --subject "/CN=Ed Root/O=pkie" --key-type ed25519 \
  >/dev/null || die "ca init ed25519"
"$PKIE_BIN" ca client add --dir "$WORK/ca" --ref client1 --secret-file "$WORK/secret" \
  --subject-pattern "CN=*,O=pkie" || die "client add"
ca_serve
S="-server 127.0.0.1:$PORT -path pkix/"
check "pkie cmp ir from an Ed25519 CA (certConf)" "$PKIE_BIN" cmp -cmd ir $S $MAC \
  -newkey "$C/k.pem" -subject "/CN=ed1/O=pkie" -certout "$C/ced.pem" \
  -trusted "$WORK/ca/root.crt" -reqout "$C/ed.req1,$C/ed.req2"
check "  certConf with hashAlg SHA-512 and pvno 3" sh -c "
  '$PKIE_BIN' cmp dump '$C/ed.req2' | grep -q 'pvno: 3' &&
  '$PKIE_BIN' cmp dump '$C/ed.req2' | grep -q 'hashAlg: 2.16.840.1.101.3.4.2.3'"
check "  stored and confirmed" sh -c "'$PKIE_BIN' ca list --dir '$WORK/ca' | grep -q 'confirmed.*CN=ed1,O=pkie'"
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
