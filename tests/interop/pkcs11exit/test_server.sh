#!/bin/sh
# Interop: pkie as TLS server with its private key in a SoftHSM2 token (the
# PKCS#11 exit handles GetCertificate and CryptData; the base holds no leaf and
# no key). openssl s_client verifies the chain and the signature; the exit's
# log shows each C_Sign mechanism. P-256 (ECDSA, TLS 1.3 and 1.2), RSA
# (PSS in 1.3 and 1.2, PKCS#1 v1.5 in 1.2), Ed25519; the PIN from the
# environment; the key selected by CKA_ID.
. "$(dirname "$0")/../exit/lib.sh"
. "$S/tests/interop/pkcs11exit/lib.sh"

# sc VERSION [s_client args]: one session, output appended to $W/all.out
sc() {
  v=$1
  shift
  sclient "$v" cli-ec "$@"
  cat "$W/sc.out" >>"$W/all.out"
  grep -q "pong TLSv1" "$W/sc.out"
}

p11conf ec "$(p11str srv-ec srv-ec.chain.pem)"
: >"$W/all.out"
server ec 3 --cert-id srv-ec --ca-id root
check "P-256, TLS 1.3: handshake and peer verification" sc tls1_3
check "P-256, TLS 1.2: handshake (ServerKeyExchange signed in the token)" sc tls1_2
check "P-256, TLS 1.2, ecdsa_secp256r1_sha256 only" sc tls1_2 -sigalgs ECDSA+SHA256
server_wait || bad "server ec: every session ok"
check "s_client verified our chain (verify return:1, no error)" sh -c \
  "grep -q 'verify return:1' '$W/all.out' && ! grep -q 'verify error' '$W/all.out'"
check "server: 3 sessions ok" has srv.out "served ok=3 refused=0"
check "log: 3 CKM_ECDSA signatures, server role" \
  test "$(count_log 'role=server alg=3 digest=2 data_len=32 mech=CKM_ECDSA ok')" = 3

rm -f "$W/sign.log"
p11conf rsa "$(p11str srv-rsa srv-rsa.chain.pem)"
server rsa 3 --cert-id srv-rsa --ca-id root
check "RSA, TLS 1.3 (RSA-PSS)" sc tls1_3
check "RSA, TLS 1.2 with rsa_pkcs1_sha256 (PKCS#1 v1.5)" sc tls1_2 -sigalgs RSA+SHA256:ECDSA+SHA256
check "RSA, TLS 1.2 with rsa_pss_rsae_sha384" sc tls1_2 -sigalgs RSA-PSS+SHA384:ECDSA+SHA256
server_wait || bad "server rsa: every session ok"
check "log: CKM_RSA_PKCS_PSS over SHA-256 (TLS 1.3)" \
  test "$(count_log 'session=1 .*alg=2 digest=2 data_len=32 mech=CKM_RSA_PKCS_PSS ok sig_len=256')" = 1
check "log: CKM_RSA_PKCS over a SHA-256 DigestInfo" \
  test "$(count_log 'session=2 .*alg=1 digest=2 data_len=32 mech=CKM_RSA_PKCS ok sig_len=256')" = 1
check "log: CKM_RSA_PKCS_PSS over SHA-384" \
  test "$(count_log 'session=3 .*alg=2 digest=3 data_len=48 mech=CKM_RSA_PKCS_PSS ok')" = 1

rm -f "$W/sign.log"
p11conf ed "$(p11str srv-ed srv-ed.chain.pem)"
server ed 2 --cert-id srv-ed --ca-id root
check "Ed25519, TLS 1.3" sc tls1_3
check "Ed25519, TLS 1.2" sc tls1_2 -sigalgs ed25519:ECDSA+SHA256
server_wait || bad "server ed: every session ok"
check "log: 2 CKM_EDDSA signatures over the message" \
  test "$(count_log 'alg=4 digest=0 .*mech=CKM_EDDSA ok sig_len=64')" = 2

# the PIN from an environment variable, the key by CKA_ID (hex of "srv-ec")
rm -f "$W/sign.log"
p11conf env "module=$MODULE token=pkie-test key-id=7372762d6563 pin-env=PKIE_TEST_PIN chain=$P/srv-ec.chain.pem log=$W/sign.log"
PKIE_TEST_PIN=1234 server env 1 --cert-id srv-ec --ca-id root
check "pin-env= and key-id=: TLS 1.3 session" sc tls1_3
server_wait || bad "server env: session ok"
check "log: signed with CKM_ECDSA" test "$(count_log 'mech=CKM_ECDSA ok')" = 1

# the base alone cannot sign for srv-ec: without the exit the session fails
conf base "pki.base=$W/ca.db" "pki.password=$P/pki.pw"
server base 1 --cert-id srv-ec --ca-id root
sclient tls1_3 cli-ec
server_wait || true
check "control: without the exit (base has no srv-ec key) the session is refused" \
  has srv.out "session 1 refused"
finish
