#!/bin/sh
# Regenerate the DER test objects of tests/data/der (run from anywhere).
# Certificates, a CRL and a CSR come from the openssl CLI (fresh keys each
# run: the committed files are one such run); the hand-made objects are fixed
# hex. Every *.der here must be valid DER: test_der_roundtrip reads each one
# and re-encodes it byte-identically.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

days=3650
subj() { echo "/C=FR/O=pkie test/OU=DER/CN=$1"; }

# --- certificates -----------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -days $days \
  -subj "$(subj 'pkie test CA')" -sha256 \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:1" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -outform DER -out cert-rsa-ca.der
openssl x509 -inform DER -in cert-rsa-ca.der -out "$tmp/ca.pem"

leaf() { # name keyalg-args... : a leaf signed by the CA, with extensions
  name=$1
  shift
  openssl genpkey "$@" -out "$tmp/$name.key"
  openssl req -new -key "$tmp/$name.key" -subj "$(subj "$name.example")" -out "$tmp/$name.csr"
  cat >"$tmp/$name.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:$name.example,DNS:*.$name.example,IP:127.0.0.1,email:ops@$name.example,URI:https://$name.example/
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
certificatePolicies=1.3.6.1.4.1.99999.1.2
crlDistributionPoints=URI:http://crl.example/ca.crl
authorityInfoAccess=OCSP;URI:http://ocsp.example/
EXT
  openssl x509 -req -in "$tmp/$name.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
    -CAcreateserial -days $days -sha256 -extfile "$tmp/$name.ext" -outform DER \
    -out "cert-$name.der"
}
leaf rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
leaf p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
leaf p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
leaf ed25519 -algorithm ED25519

# A UTF8String subject with non-ASCII characters and a 2050+ validity
# (GeneralizedTime notAfter).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/u.key" \
  -utf8 -subj "/C=DE/O=Bücher & Söhne/CN=Zoë ✓" -days 15000 -outform DER -out cert-utf8-2060.der

# --- CSR --------------------------------------------------------------------
openssl req -new -key "$tmp/p256.key" -subj "$(subj csr.example)" \
  -addext "subjectAltName=DNS:csr.example" -outform DER -out csr-p256.der
openssl req -new -key "$tmp/rsa.key" -subj "$(subj csr-rsa.example)" -outform DER -out csr-rsa.der

# --- CRL with one revoked certificate ---------------------------------------
mkdir -p "$tmp/ca"
: >"$tmp/ca/index.txt"
echo 1000 >"$tmp/ca/crlnumber"
cat >"$tmp/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $tmp/ca/index.txt
crlnumber = $tmp/ca/crlnumber
default_md = sha256
default_crl_days = 30
crl_extensions = crlext
[crlext]
authorityKeyIdentifier=keyid
CNF
openssl x509 -inform DER -in cert-rsa.der -out "$tmp/rsa.pem"
openssl ca -config "$tmp/ca.cnf" -keyfile "$tmp/ca.key" -cert "$tmp/ca.pem" \
  -revoke "$tmp/rsa.pem" -crl_reason keyCompromise 2>/dev/null
openssl ca -config "$tmp/ca.cnf" -keyfile "$tmp/ca.key" -cert "$tmp/ca.pem" -gencrl \
  -out "$tmp/ca.crl" 2>/dev/null
openssl crl -in "$tmp/ca.crl" -outform DER -out crl-rsa.der

# --- hand-made objects ------------------------------------------------------
hex() { printf '%s' "$2" | tr -d ' \n' | xxd -r -p >"$1"; }
# [APPLICATION 1000] { [PRIVATE 31] 0x05, [CONTEXT 0x1FFFFFFF] {} }: high tags
hex hand-high-tags.der "7f8768 0b df1f0105 bf81ffffff7f00"
# SET OF INTEGER in DER order (X.690 11.6: encodings compared as octets)
hex hand-set-of.der "3112 020101 020105 02017f 02020080 020300ffff"
# GeneralizedTime with a fraction (leap day) and without, in a SEQUENCE
hex hand-times.der "3026 181332303234303232393233353935392e3132335a \
180f32303439313233313233353935395a"
# every primitive type the reader knows, IMPLICIT/EXPLICIT tags, empty SET/SEQUENCE
hex hand-all-types.der "308201070101ff0101000201000201ff02090080000000000000000203800000\
0a0103030100030207800303066040040568656c6c6f050006092a864886f70d010101060355040306096086\
4801650304020106032a8648060288370c0ac3a9f09f988020e29c93130f412d5a20303f2728292b2c2e2f3a\
3d160a612b627e40632e6f7267170d3530303130313030303030305a170d3439313233313233353935395a18\
0f31393439313233313233353935395a181332303234303232393233353935392e3132335a18193939393931\
3233313233353935392e3939393939393939395a181132303030303130313030303030302e355aa003020107\
8001ff9f2003abcdef310030000c00"
# long-form lengths: 0x81 (128..255) and 0x82
hex hand-long-lengths.der "30820107 0481ff$(printf '%0510d' 0) 0403010203"
