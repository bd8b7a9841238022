#!/bin/sh
# End-to-end test of `pkie pki` with certificates made by the openssl CLI:
# init, import (PEM, DER, PKCS#12, encrypted keys, type detection), list, show,
# export, delete, crl import/list, check, and the one-line errors (exit 1).
set -u
PKIE=${PKIE_BIN:?PKIE_BIN not set}
T=$(mktemp -d "${TMPDIR:-/tmp}/pkie-pki-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }

# expect_ok DESC PATTERN CMD...: exit 0 and stdout contains PATTERN
expect_ok() {
    d=$1 pat=$2; shift 2
    "$@" >out.txt 2>err.txt; rc=$?
    if [ $rc -eq 0 ] && grep -q -- "$pat" out.txt; then ok "$d"; else
        ko "$d (rc=$rc)"; cat out.txt err.txt; fi
}
# expect_fail DESC PATTERN CMD...: exit 1, one line on stderr containing PATTERN
expect_fail() {
    d=$1 pat=$2; shift 2
    "$@" >out.txt 2>err.txt; rc=$?
    if [ $rc -eq 1 ] && grep -q -- "$pat" err.txt out.txt && [ "$(grep -vc '^pkie pki: warning' err.txt)" -le 1 ]; then
        ok "$d"; else ko "$d (rc=$rc)"; cat out.txt err.txt; fi
}

# ---- test PKI made with the openssl CLI --------------------------------------
q() { "$@" >/dev/null 2>&1 || { echo "setup failed: $*"; exit 1; }; }
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key \
    -out root.pem -subj "/CN=CLI Root/O=pkie test" -days 30 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
cat > ext.cnf <<'X'
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[user_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
X
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key \
    -out inter.csr -subj "/CN=CLI Inter/O=pkie test"
q openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial \
    -extfile ext.cnf -extensions ca_ext -out inter.pem -days 20
q openssl req -newkey rsa:2048 -nodes -keyout user.key -out user.csr -subj "/CN=alice/O=pkie test"
q openssl x509 -req -in user.csr -CA inter.pem -CAkey inter.key -CAcreateserial \
    -extfile ext.cnf -extensions user_ext -out user.pem -days 10
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout bob.key \
    -out bob.csr -subj "/CN=bob/O=pkie test"
q openssl x509 -req -in bob.csr -CA inter.pem -CAkey inter.key -CAcreateserial \
    -extfile ext.cnf -extensions user_ext -out bob.pem -days 10
q openssl pkcs8 -topk8 -in bob.key -out bob.enc.key -passout pass:keypw -v2 aes-256-cbc
q openssl x509 -in bob.pem -outform DER -out bob.der
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout carol.key \
    -out carol.csr -subj "/CN=carol/O=pkie test"
q openssl x509 -req -in carol.csr -CA inter.pem -CAkey inter.key -CAcreateserial \
    -extfile ext.cnf -extensions user_ext -out carol.pem -days 10
q openssl pkcs12 -export -in carol.pem -inkey carol.key -out carol.p12 -passout pass:p12pw
q openssl pkcs12 -export -nokeys -in carol.pem -out nokey.p12 -passout pass:p12pw
# expired and revoked certificates, and a CRL, through `openssl ca`
mkdir -p ca && : > ca/index.txt && echo 1000 > ca/serial
cat > ca.cnf <<'X'
[ca]
default_ca = d
[d]
database = ca/index.txt
new_certs_dir = ca
serial = ca/serial
default_md = sha256
default_crl_days = 7
policy = p
unique_subject = no
[p]
commonName = supplied
X
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout old.key \
    -out old.csr -subj "/CN=old"
q openssl ca -config ca.cnf -batch -notext -cert inter.pem -keyfile inter.key -in old.csr \
    -out old.pem -startdate 20200101000000Z -enddate 20200201000000Z \
    -extfile ext.cnf -extensions user_ext
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rev.key \
    -out rev.csr -subj "/CN=revoked"
q openssl ca -config ca.cnf -batch -notext -cert inter.pem -keyfile inter.key -in rev.csr \
    -out rev.pem -days 10 -extfile ext.cnf -extensions user_ext
q openssl ca -config ca.cnf -batch -cert inter.pem -keyfile inter.key -revoke rev.pem
q openssl ca -config ca.cnf -batch -cert inter.pem -keyfile inter.key -gencrl -out inter.crl
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
    -out other.pem -subj "/CN=Other Root" -days 30
# not yet valid (from 2099), and a user certificate of a CA the base lacks
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout future.key \
    -out future.csr -subj "/CN=future"
q openssl ca -config ca.cnf -batch -notext -cert inter.pem -keyfile inter.key -in future.csr \
    -out future.pem -startdate 20990101000000Z -enddate 20990201000000Z \
    -extfile ext.cnf -extensions user_ext
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout stray.key \
    -out stray.csr -subj "/CN=stray"
q openssl x509 -req -in stray.csr -CA other.pem -CAkey other.key -CAcreateserial \
    -extfile ext.cnf -extensions user_ext -out stray.pem -days 10
printf 'the pki password\n' > pw
printf 'not it\n' > badpw

B="--pki base.db"
KDF="--kdf-iter 10000"
# ---- init, import, type detection --------------------------------------------
expect_ok "init" "ready" $PKIE pki $B init
[ "$(stat -c %a base.db)" = 600 ] && ok "base file mode 0600" || ko "base file mode $(stat -c %a base.db)"
expect_ok "import root (detected)" "imported root (root)" $PKIE pki $B import --id root --cert root.pem
expect_ok "import inter (detected)" "imported inter (inter)" $PKIE pki import $B --id inter --cert inter.pem
expect_ok "import user + RSA key" "imported alice (user, with key)" \
    $PKIE pki $B --pass-file pw import --id alice --cert user.pem --key user.key $KDF
expect_ok "import DER + encrypted PKCS#8 key" "imported bob (user, with key)" \
    $PKIE pki $B --pass file:pw import --id bob --cert bob.der --key bob.enc.key --key-pass pass:keypw $KDF
PKIE_P12=p12pw PKIE_PKI=base.db expect_ok "import PKCS#12 (key taken along, PKIE_PKI)" \
    "imported carol (user, with key)" \
    $PKIE pki --pass-file pw import --id carol --cert carol.p12 --key-pass env:PKIE_P12 $KDF
expect_fail "import expired refused" "old refused: the certificate expired (not after 2020-02-01" \
    $PKIE pki $B import --id old --cert old.pem --type user
expect_fail "import not yet valid refused" "future refused: the certificate is not valid yet (not before 2099-01-01" \
    $PKIE pki $B import --id future --cert future.pem
expect_fail "import of an unknown issuer refused" "stray refused: its issuer CN=Other Root is not a CA of the base" \
    $PKIE pki $B import --id stray --cert stray.pem
expect_ok "import expired with --force" "imported old (user)" \
    $PKIE pki $B import --id old --cert old.pem --type user --force
expect_ok "import revoked" "imported revoked" $PKIE pki $B import --id revoked --cert rev.pem
expect_ok "import another root" "imported other (root)" $PKIE pki $B import --id other --cert other.pem
[ "$(stat -c %a base.db)" = 600 ] && ok "still 0600" || ko "mode changed"

# ---- import errors ---------------------------------------------------------
expect_fail "duplicate id" "already in use" $PKIE pki $B import --id root --cert root.pem
expect_fail "type contradicts certificate" "not a root" $PKIE pki $B import --id x --cert user.pem --type root
expect_fail "bad --type" "--type 'ca'" $PKIE pki $B import --id x --cert user.pem --type ca
expect_fail "key of another certificate" "not the certificate's" \
    $PKIE pki $B --pass-file pw import --id x --cert user.pem --key bob.key $KDF
expect_fail "wrong PKI password" "password does not open" \
    $PKIE pki $B --pass-file badpw import --id x --cert bob.pem --key bob.key $KDF
expect_fail "key without PKI password" "needs the PKI password" \
    $PKIE pki $B import --id x --cert bob.pem --key bob.key
expect_fail "encrypted key without --key-pass" "--key 'bob.enc.key'" \
    $PKIE pki $B --pass-file pw import --id x --cert bob.pem --key bob.enc.key $KDF
expect_fail "PKCS#12 with wrong password" "carol.p12" \
    $PKIE pki $B --pass-file pw import --id x --cert carol.p12 --key-pass pass:nope $KDF
expect_fail "PKCS#12 without key as --key" "holds no key" \
    $PKIE pki $B --pass-file pw import --id x --cert carol.pem --key nokey.p12 --key-pass pass:p12pw $KDF
expect_fail "missing cert file" "--cert 'nofile.pem'" $PKIE pki $B import --id x --cert nofile.pem
expect_fail "not a certificate" "not a certificate" $PKIE pki $B import --id x --cert ext.cnf
expect_fail "missing --id" "--id is required" $PKIE pki $B import --cert root.pem
expect_fail "bad id" "--id 'a b'" $PKIE pki $B import --id "a b" --cert root.pem
expect_fail "missing --pass-file" "--pass-file 'nopw'" $PKIE pki $B --pass-file nopw import --id x --cert bob.pem
expect_fail "bad --pass form" "expected env:VAR" $PKIE pki $B --pass secret import --id x --cert bob.pem
expect_fail "low --kdf-iter" "--kdf-iter '5'" $PKIE pki $B import --id x --cert bob.pem --kdf-iter 5
expect_fail "unknown option" "unknown option '--bogus'" $PKIE pki $B list --bogus
expect_fail "option not for this command" "'--cert' does not apply" $PKIE pki $B list --cert x
expect_fail "unknown command" "unknown command 'frobnicate'" $PKIE pki $B frobnicate
expect_fail "no base" "no base given" env -u PKIE_PKI $PKIE pki list
expect_fail "missing base file" "no such PKI base" $PKIE pki --pki absent.db list

# ---- list, show, export ------------------------------------------------------
expect_ok "list" "alice  *user  yes" $PKIE pki $B list
grep -q "^old  *user  no " out.txt && ok "list: no key for old" || ko "list: old row"
[ "$(grep -c . out.txt)" = 9 ] && ok "list: header + 8 rows" || ko "list rows: $(cat out.txt)"
expect_ok "show" "subject:     O=pkie test,CN=alice" $PKIE pki $B show --id alice
grep -q "chain:       alice <- inter" out.txt && ok "show: chain" || ko "show chain"
expect_fail "show unknown id" "no certificate with id 'nobody'" $PKIE pki $B show --id nobody
expect_ok "export --chain" "wrote 2 certificate" $PKIE pki $B export --id alice --chain --out chain.pem
[ "$(grep -c 'BEGIN CERTIFICATE' chain.pem)" = 2 ] && ok "export: leaf + intermediate" || ko "export count"
openssl verify -CAfile root.pem -untrusted chain.pem user.pem >/dev/null 2>&1 \
    && ok "exported chain verifies with openssl" || ko "exported chain does not verify"
$PKIE pki $B export --id bob --der --out bob.out.der >/dev/null 2>&1 && cmp -s bob.out.der bob.der \
    && ok "export --der round-trips" || ko "export --der"
expect_fail "export --der --chain" "not with --chain" $PKIE pki $B export --id bob --der --chain
expect_fail "export unknown id" "no certificate with id" $PKIE pki $B export --id nobody

# ---- check, CRLs ---------------------------------------------------------------
expect_ok "check valid" "alice: ok" $PKIE pki $B check --id alice
expect_ok "check valid (PKCS#12 import)" "carol: ok" $PKIE pki $B check --id carol
expect_fail "check expired" "TLS alert 45" $PKIE pki $B check --id old
expect_ok "check revoked before CRL" "revoked: ok" $PKIE pki $B check --id revoked
expect_fail "crl import: not a CRL" "not a CRL" $PKIE pki $B crl import ext.cnf
expect_fail "crl import: no file" "CRL 'none.crl'" $PKIE pki $B crl import none.crl
expect_fail "crl import: missing argument" "missing FILE" $PKIE pki $B crl import
expect_ok "crl import" "1 revoked" $PKIE pki $B crl import inter.crl
expect_ok "crl list" "CN=CLI Inter" $PKIE pki $B crl list
expect_fail "check revoked after CRL" "TLS alert 44" $PKIE pki $B check --id revoked
expect_ok "check other root" "other: ok" $PKIE pki $B check --id other
expect_fail "check unknown id" "no certificate with id" $PKIE pki $B check --id nobody

# ---- delete, permissions, corruption ---------------------------------------------
P12PW=p12pw expect_ok "import PKCS#12 without key" "imported carol2 (user)" \
    $PKIE pki $B import --id carol2 --cert nokey.p12 --key-pass env:P12PW
expect_ok "delete" "deleted carol2" $PKIE pki $B delete --id carol2
expect_ok "delete" "deleted bob" $PKIE pki $B delete --id bob
expect_fail "delete again" "no certificate with id 'bob'" $PKIE pki $B delete --id bob
$PKIE pki $B list | grep -q '^bob ' && ko "bob still listed" || ok "bob gone"
chmod 644 base.db
expect_fail "world-readable base refused" "mode 644" $PKIE pki $B list
chmod 600 base.db
head -c 3000 base.db > cut.db && chmod 600 cut.db
expect_fail "truncated base" "pkie pki list" $PKIE pki --pki cut.db list
printf 'garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage' > junk.db && chmod 600 junk.db
expect_fail "not a database" "corrupt\|not a database\|not a PKI base" $PKIE pki --pki junk.db list

# ---- help ------------------------------------------------------------------------
for c in "" init import list show delete export check "crl" "crl import" "crl list"; do
    # shellcheck disable=SC2086
    if $PKIE pki $c --help | grep -q usage; then ok "help: pki $c"; else ko "help: pki $c"; fi
done
if $PKIE help pki | grep -q usage; then ok "pkie help pki"; else ko "pkie help pki"; fi

echo "$fails failure(s)"
[ $fails -eq 0 ]
