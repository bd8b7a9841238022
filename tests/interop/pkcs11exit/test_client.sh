#!/bin/sh
# Interop: pkie as TLS client with its private key in a SoftHSM2 token, against
# openssl s_server requiring and verifying a client certificate (-Verify): the
# PKCS#11 exit sends the chain and signs the CertificateVerify (P-256 and RSA,
# TLS 1.3 and 1.2); the base holds no leaf and no key.
. "$(dirname "$0")/../exit/lib.sh"
. "$S/tests/interop/pkcs11exit/lib.sh"

# client_run NAME VERSION: one tlsdrv client session to the s_server on $PORT
client_run() {
  "$DRV" client --conf "$W/$1.conf" --port "$PORT" --cert-id "$1" --ca-id root --sni localhost \
    >"$W/cl.out" 2>&1 || true
  sserver_wait
}
peer_verified() { # s_server verified the client chain up to the root
  grep -q "CN = $1" "$W/ss.out" && grep -q "verify return:1" "$W/ss.out" &&
    ! grep -q "verify error" "$W/ss.out"
}
for k in ec rsa; do
  p11conf cli-$k "$(p11str cli-$k cli-$k.chain.pem)"
  for v in tls1_3 tls1_2; do
    rm -f "$W/sign.log"
    sserver srv-ec "-$v"
    client_run cli-$k
    check "client $k $v: session ok" has cl.out "session 1 ok"
    check "client $k $v: s_server verified the client certificate" peer_verified "cli $k"
    check "client $k $v: CertificateVerify signed in the token" \
      test "$(count_log 'role=client .* ok sig_len=')" = 1
  done
done
rm -f "$W/sign.log"
sserver srv-ec -tls1_2 -client_sigalgs RSA+SHA256
client_run cli-rsa
check "client rsa, TLS 1.2, server asks rsa_pkcs1_sha256: session ok" has cl.out "session 1 ok"
check "client rsa: CKM_RSA_PKCS" test "$(count_log 'role=client alg=1 digest=2 .*mech=CKM_RSA_PKCS ok')" = 1
finish
