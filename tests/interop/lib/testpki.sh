#!/bin/sh
# testpki.sh DIR: generate a small test PKI for the CMP interop tests into DIR,
# with the openssl command line only. TEST KEYS ONLY: every private key is
# written unencrypted and must never protect anything real.
#
# Files (PEM unless noted), all issued below the intermediate unless noted:
#   root.key root.crt            self-signed root CA (EC P-256)
#   inter.key inter.crt          intermediate CA, issued by the root
#   chain.pem                    inter.crt + root.crt
#   server.key server.crt        CMP server / mock CA / RA signer (EC P-256,
#                                digitalSignature, EKU cmcRA + cmcCA)
#   client.key client.crt        CMP client signer for cr, kur, rr (EC P-256,
#                                digitalSignature, EKU clientAuth)
#   new-ec.key new-ec.crt        new key (EC P-256) and the certificate that
#                                the mock server returns for it (-rsp_cert)
#   new-rsa.key new-rsa.crt      new key (RSA 2048) and its certificate
#   new-ed25519.key new-ed25519.crt  new key (Ed25519) and its certificate
#   new-rsa.csr                  PKCS#10 CSR (PEM) for new-rsa.key, for p10cr
#   new-rsa.csr.der              the same CSR in DER
#   other-root.key other-root.crt  an unrelated self-signed root (negative
#                                tests: a trust anchor that must not verify)
#
# Subjects: CN=pkie Test <Role>,O=pkie test PKI. Validity: 20 years.
# Runs in about a second (no RSA over 2048 bits).
set -eu

if [ $# -ne 1 ]; then
  echo "usage: testpki.sh DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
OPENSSL=${OPENSSL:-openssl}
DAYS=${PKIE_TESTPKI_DAYS:-7305}
O="O=pkie test PKI"
err="$dir/.testpki.err"

run() {
  if ! "$OPENSSL" "$@" >"$err" 2>&1; then
    echo "testpki.sh: openssl $1 failed:" >&2
    cat "$err" >&2
    exit 1
  fi
}

eckey() { run genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# cert NAME CN ISSUER(or "self") EXT...: NAME.key must exist; writes NAME.crt
cert() {
  name=$1 cn=$2 issuer=$3
  shift 3
  set -- -addext "subjectKeyIdentifier=hash" "$@"
  if [ "$issuer" = self ]; then
    run req -new -x509 -key "$dir/$name.key" -subj "/$O/CN=$cn" -days "$DAYS" -sha256 \
      -out "$dir/$name.crt" "$@"
  else
    run req -new -x509 -key "$dir/$name.key" -subj "/$O/CN=$cn" -days "$DAYS" -sha256 \
      -CA "$dir/$issuer.crt" -CAkey "$dir/$issuer.key" \
      -addext "authorityKeyIdentifier=keyid" -out "$dir/$name.crt" "$@"
  fi
}

CA_EXT='-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign'

eckey "$dir/root.key"
# shellcheck disable=SC2086
cert root "pkie Test Root CA" self $CA_EXT

eckey "$dir/inter.key"
cert inter "pkie Test Intermediate CA" root \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign"
cat "$dir/inter.crt" "$dir/root.crt" >"$dir/chain.pem"

eckey "$dir/server.key"
cert server "pkie Test CMP Server" inter \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=cmcRA,cmcCA"

eckey "$dir/client.key"
cert client "pkie Test Client" inter \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=clientAuth"

eckey "$dir/new-ec.key"
cert new-ec "pkie Test New EC" inter \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" \
  -addext "subjectAltName=DNS:new-ec.test"

run genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/new-rsa.key"
cert new-rsa "pkie Test New RSA" inter \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
  -addext "subjectAltName=DNS:new-rsa.test"
run req -new -key "$dir/new-rsa.key" -subj "/$O/CN=pkie Test New RSA" -sha256 \
  -addext "subjectAltName=DNS:new-rsa.test" -out "$dir/new-rsa.csr"
run req -in "$dir/new-rsa.csr" -outform DER -out "$dir/new-rsa.csr.der"

run genpkey -algorithm ED25519 -out "$dir/new-ed25519.key"
cert new-ed25519 "pkie Test New Ed25519" inter \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature"

eckey "$dir/other-root.key"
# shellcheck disable=SC2086
cert other-root "pkie Test Unrelated Root CA" self $CA_EXT

rm -f "$err"
chmod 600 "$dir"/*.key
