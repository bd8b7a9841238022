#!/bin/sh
# centralkeygen: `pkie cmp -centralkeygen -newkeyout` (RFC 9483 4.1.6) against OpenSSL 3.5's
# mock CMP server (`openssl cmp -port 0 ... -rsp_key`), which returns -rsp_key in an
# EnvelopedData to the client's certificate, signed by its -srv_cert:
#   EC client certificate (key agreement) and RSA client certificate (key transport): the key
#   saved 0600 and matching the certificate; refused: a KGA signer without id-kp-cmKGA, a key
#   that does not match the certificate, -newkeyout without -centralkeygen and the reverse.
# OpenSSL's mock server encrypts only to the client's certificate (a MAC-protected request gets
# no key from it), so password-based recipients are tested against `pkie ca serve`
# (tests/interop/ca/centralkeygen.sh) and in tests/unit/cmp/test_cmp_envkey.c.
set -u
src=${PKIE_SRC_DIR:?PKIE_SRC_DIR not set}
PKIE=${PKIE_BIN:?PKIE_BIN not set}
OPENSSL=$(sh "$src/scripts/peers.sh" openssl35) || { echo "FAIL: no OpenSSL 3.5 (scripts/peers.sh openssl35)" >&2; exit 1; }
export OPENSSL
work=$(mktemp -d "${TMPDIR:-/tmp}/centralkeygen.XXXXXX")
CMPMOCK_NO_TRAP=1
CMPMOCK_WAIT=${CMPMOCK_WAIT:-30}
. "$src/tests/interop/lib/cmpmock.sh"
trap 'cmpmock_cleanup; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
failures=0
cases=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# ---- a small PKI, made with the system openssl (the 3.5 build has no openssl.cnf):
# root, KGA (cmKGA) and a signer without cmKGA for the mock, EC and RSA clients
P=$work/pki
mkdir -p "$P"
cat >"$P/ext.cnf" <<'CNF'
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[kga]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=cmKGA
subjectKeyIdentifier=hash
[nokga]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=cmcCA
subjectKeyIdentifier=hash
[ee]
basicConstraints=CA:FALSE
subjectKeyIdentifier=hash
CNF
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
issue() { # KEY SUBJECT EXT OUT
  openssl req -new -key "$1" -subj "$2" -out "$P/t.csr" 2>/dev/null &&
    openssl x509 -req -in "$P/t.csr" -CA "$P/root.crt" -CAkey "$P/root.key" -CAcreateserial \
      -days 5 -extfile "$P/ext.cnf" -extensions "$3" -out "$4" 2>/dev/null
}
ec "$P/root.key"
openssl req -x509 -new -key "$P/root.key" -subj /CN=ckg-root -days 5 -config "$P/ext.cnf" \
  -extensions ca -out "$P/root.crt" 2>/dev/null || { echo "FAIL: root" >&2; exit 1; }
ec "$P/srv.key"
issue "$P/srv.key" /CN=kga kga "$P/kga.crt" && issue "$P/srv.key" /CN=notkga nokga "$P/nokga.crt" &&
  ec "$P/cli.key" && issue "$P/cli.key" /CN=cli-ec ee "$P/cli.crt" &&
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$P/clirsa.key" 2>/dev/null &&
  issue "$P/clirsa.key" /CN=cli-rsa ee "$P/clirsa.crt" &&
  ec "$P/new.key" && issue "$P/new.key" /CN=new ee "$P/new.crt" &&
  ec "$P/other.key" && issue "$P/other.key" /CN=other ee "$P/other.crt" ||
  { echo "FAIL: test PKI" >&2; exit 1; }

MOCK="-srv_key $P/srv.key -srv_trusted $P/root.crt -rsp_key $P/new.key -no_check_time"
pubhash() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | od -An -tx1 | tr -d ' \n'; }
certhash() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | od -An -tx1 | tr -d ' \n'; }

# ok NAME CLIENT-CERT CLIENT-KEY: a cr with central key generation succeeds
ok() {
  cases=$((cases + 1))
  out=$work/$1
  if ! timeout -k 2 60 $PKIE cmp -config "" -server "$CMPMOCK_URL" -cmd cr -cert "$2" -key "$3" \
    -trusted "$P/root.crt" -centralkeygen -newkeyout "$out.key" -subject /CN=x \
    -certout "$out.crt" >"$out.log" 2>&1; then
    fail "$1: pkie cmp failed"
    tail -3 "$out.log" >&2
    return
  fi
  [ "$(stat -c %a "$out.key")" = 600 ] || fail "$1: -newkeyout mode $(stat -c %a "$out.key")"
  [ "$(pubhash "$out.key")" = "$(pubhash "$P/new.key")" ] || fail "$1: not the mock's -rsp_key"
  [ "$(pubhash "$out.key")" = "$(certhash "$out.crt")" ] || fail "$1: key does not match -certout"
}

# refused NAME PATTERN OPT...: the transaction fails with PATTERN and writes no key
refused() {
  cases=$((cases + 1))
  name=$1
  pat=$2
  shift 2
  out=$work/$name
  if timeout -k 2 60 $PKIE cmp -config "" -server "$CMPMOCK_URL" -cmd cr -subject /CN=x \
    -trusted "$P/root.crt" -certout "$out.crt" "$@" >"$out.log" 2>&1; then
    fail "$name: succeeded"
  elif ! grep -q -- "$pat" "$out.log"; then
    fail "$name: no '$pat'"
    tail -3 "$out.log" >&2
  fi
  [ ! -e "$out.key" ] || fail "$name: a key was written"
}

cmpmock_start -srv_cert "$P/kga.crt" -rsp_cert "$P/new.crt" $MOCK || exit 1
ok ec_kari "$P/cli.crt" "$P/cli.key"
ok rsa_ktri "$P/clirsa.crt" "$P/clirsa.key"
# -newkeyout without central key generation is ignored, as openssl cmp 3.5 does
cases=$((cases + 1))
if ! timeout -k 2 60 $PKIE cmp -config "" -server "$CMPMOCK_URL" -cmd cr -subject /CN=x \
  -trusted "$P/root.crt" -certout "$work/nk_alone.crt" -cert "$P/cli.crt" -key "$P/cli.key" \
  -newkey "$P/new.key" -newkeyout "$work/nk_alone.key" >"$work/nk_alone.log" 2>&1; then
  fail "newkeyout_alone: pkie cmp failed"
  tail -3 "$work/nk_alone.log" >&2
fi
[ ! -e "$work/nk_alone.key" ] || fail "newkeyout_alone: a key was written"
# -popo -1 in an enrollment means central key generation (OpenSSL 3.5): it needs -newkeyout
refused popo_none_alone "nowhere to save" -cert "$P/cli.crt" -key "$P/cli.key" -popo -1
refused centralkeygen_alone "nowhere to save" -cert "$P/cli.crt" -key "$P/cli.key" -centralkeygen
refused centralkeygen_popo "inconsistent with -centralkeygen" -cert "$P/cli.crt" \
  -key "$P/cli.key" -centralkeygen -popo 1 -newkeyout "$work/centralkeygen_popo.key"
cmpmock_stop

cmpmock_start -srv_cert "$P/nokga.crt" -rsp_cert "$P/new.crt" $MOCK || exit 1
refused kga_without_cmkga "lacks extendedKeyUsage id-kp-cmKGA" -cert "$P/cli.crt" \
  -key "$P/cli.key" -centralkeygen -newkeyout "$work/kga_without_cmkga.key"
cmpmock_stop

# the mock returns a certificate for another key than the one it sends
cmpmock_start -srv_cert "$P/kga.crt" -rsp_cert "$P/other.crt" $MOCK || exit 1
refused key_not_matching "does not match the new certificate" -cert "$P/cli.crt" \
  -key "$P/cli.key" -centralkeygen -newkeyout "$work/key_not_matching.key"
cmpmock_stop

echo "centralkeygen: $cases cases, $failures failures"
[ "$failures" -eq 0 ]
