#!/bin/sh
# mkpki.sh DIR: the test PKI of the exit tests (openssl command line only).
# TEST KEYS ONLY, written unencrypted.
#   root.crt/key            self-signed root CA (EC P-256)
#   inter.crt/key           intermediate CA below root
#   {srv,cli}-{ec,rsa,ed}.crt/key   leaves below inter (serverAuth+clientAuth),
#                           *.chain.pem = leaf + inter
#   cli-rev.crt/key         client leaf revoked in crl.pem (CRL of inter)
#   cli-exp.crt/key         client leaf expired in 2021
#   other-root.crt/key, cli-other.crt/key, cli-other.chain.pem: an unrelated PKI
#   pki.db, pki.pw          an internal PKI base with all of the above
#     ids: root inter srv-ec srv-rsa srv-ed cli-ec cli-rsa cli-ed other-root
#          (password in pki.pw) and the CRL, unless MKPKI_NO_CRL is set
set -eu
dir=$1
mkdir -p "$dir"
O=${OPENSSL:-openssl}
err="$dir/.err"
run() { "$O" "$@" >"$err" 2>&1 || { echo "mkpki.sh: openssl $1 failed" >&2; cat "$err" >&2; exit 1; }; }
key() {
  case $2 in
  ec) run genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/$1.key" ;;
  rsa) run genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/$1.key" ;;
  ed) run genpkey -algorithm ED25519 -out "$dir/$1.key" ;;
  esac
}
ca() { # name cn issuer|self
  key "$1" ec
  if [ "$3" = self ]; then
    run req -new -x509 -key "$dir/$1.key" -subj "/O=pkie exit test/CN=$2" -days 7300 -sha256 \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -out "$dir/$1.crt"
  else
    run req -new -x509 -key "$dir/$1.key" -subj "/O=pkie exit test/CN=$2" -days 7300 -sha256 \
      -CA "$dir/$3.crt" -CAkey "$dir/$3.key" \
      -addext basicConstraints=critical,CA:TRUE,pathlen:0 \
      -addext keyUsage=critical,keyCertSign,cRLSign -out "$dir/$1.crt"
  fi
}
leaf() { # name type cn issuer
  key "$1" "$2"
  run req -new -x509 -key "$dir/$1.key" -subj "/O=pkie exit test/CN=$3" -days 7300 \
    -CA "$dir/$4.crt" -CAkey "$dir/$4.key" -addext basicConstraints=critical,CA:FALSE \
    -addext keyUsage=critical,digitalSignature \
    -addext extendedKeyUsage=serverAuth,clientAuth -addext subjectAltName=DNS:localhost \
    -out "$dir/$1.crt"
  cat "$dir/$1.crt" "$dir/$4.crt" >"$dir/$1.chain.pem"
}
ca root "Exit Test Root" self
ca inter "Exit Test Inter" root
for r in srv cli; do
  leaf $r-ec ec "$r ec" inter
  leaf $r-rsa rsa "$r rsa" inter
  leaf $r-ed ed "$r ed" inter
done
ca other-root "Other Root" self
leaf cli-other ec "cli other" other-root

# revoked and expired leaves, with openssl ca
cat >"$dir/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
default_crl_days = 3650
policy = p
unique_subject = no
[p]
commonName = supplied
organizationName = optional
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
CNF
: >"$dir/index.txt"
echo 1000 >"$dir/serial"
for n in rev exp; do
  key cli-$n ec
  run req -new -key "$dir/cli-$n.key" -subj "/O=pkie exit test/CN=cli $n" -out "$dir/cli-$n.csr"
done
run ca -batch -config "$dir/ca.cnf" -cert "$dir/inter.crt" -keyfile "$dir/inter.key" \
  -extensions ext -days 7300 -notext -in "$dir/cli-rev.csr" -out "$dir/cli-rev.crt"
run ca -batch -config "$dir/ca.cnf" -cert "$dir/inter.crt" -keyfile "$dir/inter.key" \
  -extensions ext -startdate 20200101000000Z -enddate 20210101000000Z -notext \
  -in "$dir/cli-exp.csr" -out "$dir/cli-exp.crt"
run ca -config "$dir/ca.cnf" -cert "$dir/inter.crt" -keyfile "$dir/inter.key" \
  -revoke "$dir/cli-rev.crt"
run ca -config "$dir/ca.cnf" -cert "$dir/inter.crt" -keyfile "$dir/inter.key" -gencrl \
  -out "$dir/crl.pem"
for n in rev exp; do cat "$dir/cli-$n.crt" "$dir/inter.crt" >"$dir/cli-$n.chain.pem"; done
cat "$dir/root.crt" >"$dir/ca.pem"

# the internal PKI base
echo "exit-test-password" >"$dir/pki.pw"
rm -f "$dir/pki.db"
set -- --add "root:root:$dir/root.crt" --add "inter:inter:$dir/inter.crt" \
  --add "other-root:root:$dir/other-root.crt"
for l in srv-ec srv-rsa srv-ed cli-ec cli-rsa cli-ed; do
  set -- "$@" --add "$l:user:$dir/$l.crt:$dir/$l.key"
done
crl="--crl $dir/crl.pem"
# MKPKI_NO_CRL=1: the base holds no CRL (benchmarks compare with s_server,
# which checks none)
[ -n "${MKPKI_NO_CRL:-}" ] && crl=
# shellcheck disable=SC2086
"${TLSDRV:?TLSDRV must name the tlsdrv binary}" mkbase --base "$dir/pki.db" \
  --password-file "$dir/pki.pw" "$@" $crl
rm -f "$err"
chmod 600 "$dir"/*.key
