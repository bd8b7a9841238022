#!/bin/sh
# cmpclient_interop: `pkie cmp` (the CMP client of pkie) against OpenSSL's mock
# CMP server (`openssl cmp -port`), on 127.0.0.1 inside the test's private
# network namespace. Every case of issue 4's "Checked by" list:
#   ir with MAC; cr and kur with signature; p10cr; rr with several reasons and
#   the RFC 4210 status rules; genm with each typed helper the 3.0 mock
#   supports; polling; implicit confirm granted / not granted; a rejection
#   with -send_unprot_err with and without -unprotected_errors; a wrong
#   secret; an untrusted server certificate; a server that never answers;
#   plus the command's own contract (unknown option, missing file,
#   contradictory options, -config/-section, -reqout/-rspout, -repeat).
# Usage: cmpclient_interop.sh [PKIE-CMD...]   (default: $PKIE_BIN cmp)
set -u
src=${PKIE_SRC_DIR:?PKIE_SRC_DIR not set}
lib=$src/tests/interop/lib
if [ $# -gt 0 ]; then PKIECMP=$*; else PKIECMP="${PKIE_BIN:?PKIE_BIN not set} cmp"; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/cmpclient_interop.XXXXXX")
CMPMOCK_NO_TRAP=1
CMPMOCK_WAIT=${CMPMOCK_WAIT:-30} # the machine may be busy
. "$lib/cmpmock.sh"
trap 'cmpmock_cleanup; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

P=$work/pki
sh "$lib/testpki.sh" "$P" >/dev/null || { echo "testpki.sh failed" >&2; exit 1; }
cmpmock_pki "$P"
MAC="-ref test -secret pass:test"
SIG="-cert $P/client.crt -key $P/client.key -untrusted $P/inter.crt -trusted $P/root.crt"
failures=0
cases=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run NAME CMD...: run pkie cmp against the current mock; output in $work/NAME.out
run() {
  _n=$1
  shift
  rc=0
  # openssl cmp needs -certout for ir, cr and kur: a default one per case
  _co=
  case " $* " in *" -certout "* | *" -config "*) ;; *) _co="-certout $work/$_n.certout.pem" ;; esac
  # shellcheck disable=SC2086
  timeout -k 2 60 $PKIECMP -server "$CMPMOCK_URL" -msg_timeout 10 $_co "$@" >"$work/$_n.out" 2>&1 || rc=$?
}

# ok NAME ARGS...: must succeed
ok() {
  cases=$((cases + 1))
  run "$@"
  if [ "$rc" != 0 ]; then
    fail "$1: exit $rc"
    cat "$work/$1.out" >&2
    echo "-- mock log:" >&2
    cmpmock_log | tail -20 >&2
    return 1
  fi
  return 0
}

# ko NAME REGEX ARGS...: must exit 1 with REGEX in the output
ko() {
  cases=$((cases + 1))
  _n=$1 _re=$2
  shift 2
  run "$_n" "$@"
  if [ "$rc" != 1 ]; then
    fail "$_n: exit $rc, expected 1"
    cat "$work/$_n.out" >&2
    return 1
  fi
  if ! grep -Eq -- "$_re" "$work/$_n.out"; then
    fail "$_n: output does not match /$_re/"
    cat "$work/$_n.out" >&2
    return 1
  fi
  return 0
}

same_cert() { # same_cert NAME A B
  if ! cmp -s "$(openssl x509 -in "$2" -outform DER | od -An -tx1 | tr -d ' \n' | tee "$work/a.hex" >/dev/null; echo "$work/a.hex")" \
      "$(openssl x509 -in "$3" -outform DER | od -An -tx1 | tr -d ' \n' | tee "$work/b.hex" >/dev/null; echo "$work/b.hex")"; then
    fail "$1: certificate $2 differs from $3"
  fi
}

count() { ls "$work"/"$1".req*.der 2>/dev/null | wc -l; }
reqs() { echo "-reqout $work/$1.req1.der,$work/$1.req2.der,$work/$1.req3.der,$work/$1.req4.der -rspout $work/$1.rsp1.der,$work/$1.rsp2.der,$work/$1.rsp3.der,$work/$1.rsp4.der"; }

# ---- MAC mock: ir, p10cr, repeat, config, reqout, implicit confirm not granted ----
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" -rsp_capubs "$P/root.crt" || { echo "FAIL: mock server did not start" >&2; exit 1; }
ok ir_mac -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=pkie ir" \
  -certout "$work/ir.pem" -cacertsout "$work/capubs.pem" $(reqs ir_mac) &&
  same_cert ir_mac "$work/ir.pem" "$P/new-ec.crt" &&
  same_cert ir_mac_capubs "$work/capubs.pem" "$P/root.crt"
[ "$(count ir_mac)" = 2 ] || fail "ir_mac: expected ir + certConf, got $(count ir_mac) requests"
# the requests are real CMP: openssl asn1parse reads them, ir is body [0]
openssl asn1parse -inform DER -in "$work/ir_mac.req1.der" >/dev/null 2>&1 ||
  fail "ir_mac: saved request is not DER"
# replays as openssl cmp does them: a captured request sent again (-reqin),
# captured responses instead of the server (-rspin; protection still checked)
ok reqin -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -reqin "$work/ir_mac.req1.der"
ok rspin -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -certout "$work/rspin.pem" \
  -rspin "$work/ir_mac.rsp1.der,$work/ir_mac.rsp2.der" && same_cert rspin "$work/rspin.pem" "$P/new-ec.crt"
ko rspin_wrong_secret "MAC" -cmd ir -ref test -secret pass:wrong -newkey "$P/new-ec.key" -subject "/CN=x" \
  -rspin "$work/ir_mac.rsp1.der,$work/ir_mac.rsp2.der"
ok ir_not_granted -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -implicit_confirm $(reqs ir_not_granted)
[ "$(count ir_not_granted)" = 2 ] || fail "implicit confirm not granted: expected certConf, got $(count ir_not_granted) requests"
ok keep_alive_0 -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -keep_alive 0
ok keep_alive_2 -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -keep_alive 2
ok ir_repeat -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -repeat 3
ok ir_pbmac_sha256 -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -mac hmac-sha256
cat >"$work/cmp.cnf" <<CNF
# openssl-style configuration with sections, as openssl cmp reads it
[default]
msg_timeout = 10
[enroll]
cmd = ir
ref = test
secret = pass:test
newkey = $P/new-ec.key
subject = /CN=from config
certout = $work/cnf.pem
CNF
ok config -config "$work/cmp.cnf" -section enroll && same_cert config "$work/cnf.pem" "$P/new-ec.crt"
# the same configuration drives openssl cmp: scripts and configs carry over
rm -f "$work/cnf.pem"
cases=$((cases + 1))
openssl cmp -server "$CMPMOCK_URL" -config "$work/cmp.cnf" -section enroll -batch >"$work/ossl_cnf.out" 2>&1 ||
  fail "openssl cmp with the same config: $(cat "$work/ossl_cnf.out")"
[ -s "$work/cnf.pem" ] || fail "openssl cmp with the same config wrote no certificate"
# secrets from the environment and from a file
printf 'test\n' >"$work/secret.txt"
PKIE_T_SECRET=test ok secret_env -cmd ir -ref test -secret env:PKIE_T_SECRET -newkey "$P/new-ec.key" -subject /CN=x
ok secret_file -cmd ir -ref test -secret "file:$work/secret.txt" -newkey "$P/new-ec.key" -subject /CN=x
ko secret_file_missing "Can't open" -cmd ir -ref test -secret "file:$work/nosuch.txt" -newkey "$P/new-ec.key" -subject /CN=x
cmpmock_stop

cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-rsa.crt" || { echo "FAIL: mock server did not start" >&2; exit 1; }
ok p10cr -cmd p10cr $MAC -csr "$P/new-rsa.csr" -certout "$work/p10.pem" &&
  same_cert p10cr "$work/p10.pem" "$P/new-rsa.crt"
ok p10cr_der -cmd p10cr $MAC -csr "$P/new-rsa.csr.der" -certout "$work/p10d.der" -certform DER
ko ir_wrong_key "does not match|incorrectData|rejected" -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x"
cmpmock_stop

# ---- wrong secret ----
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" || { echo "FAIL: mock server did not start" >&2; exit 1; }
ko wrong_secret "MAC|protection|error" -cmd ir -ref test -secret pass:wrong -newkey "$P/new-ec.key" -subject "/CN=x"
cmpmock_stop

# ---- signature mock: cr, kur, rr, genm ----
cmpmock_start $CMPMOCK_SIG -rsp_cert "$P/new-ec.crt" || { echo "FAIL: mock server did not start" >&2; exit 1; }
ok cr_sig -cmd cr $SIG -newkey "$P/new-ec.key" -subject "/CN=pkie cr" -certout "$work/cr.pem" \
  -extracertsout "$work/extra.pem" -chainout "$work/chain.pem" &&
  same_cert cr_sig "$work/cr.pem" "$P/new-ec.crt"
[ -s "$work/extra.pem" ] || fail "cr_sig: no -extracertsout"
ok kur_sig -cmd kur $SIG -oldcert "$P/new-ec.crt" -newkey "$P/new-ec.key" -certout "$work/kur.pem" &&
  same_cert kur_sig "$work/kur.pem" "$P/new-ec.crt"
ok cr_srvcert -cmd cr -cert "$P/client.crt" -key "$P/client.key" -untrusted "$P/inter.crt" \
  -srvcert "$P/server.crt" -newkey "$P/new-ec.key" -subject "/CN=x"
ok cr_out_trusted -cmd cr $SIG -newkey "$P/new-ec.key" -subject "/CN=x" -out_trusted "$P/root.crt"
ko cr_out_untrusted "rejected by the client|does not verify" -cmd cr $SIG -newkey "$P/new-ec.key" \
  -subject "/CN=x" -out_trusted "$P/other-root.crt"
for reason in -1 0 1 4 5; do
  ok "rr_$reason" -cmd rr $SIG -oldcert "$P/new-ec.crt" -revreason "$reason"
done
ko rr_other_cert "rejection|rejected" -cmd rr $SIG -oldcert "$P/client.crt"
ok genm_caCerts -cmd genm $SIG -infotype caCerts -cacertsout "$work/cacerts.pem"
ok genm_certReqTemplate -cmd genm $SIG -infotype certReqTemplate -template "$work/tmpl.der"
ok genm_signKeyPairTypes -cmd genm $SIG -infotype signKeyPairTypes
ok genm_plain -cmd genm $SIG
# rootCaCert / crlStatusList: the 3.0 mock echoes the request, which is no
# rootCaKeyUpdate / crls answer: a clean error
ko genm_rootCaCert "rootCaKeyUpdate|1.3.6.1.5.5.7.4.18" -cmd genm $SIG -infotype rootCaCert -oldwithold "$P/root.crt" -newwithnew "$work/nwn.pem"
ko genm_crlStatusList "crls|1.3.6.1.5.5.7.4.23" -cmd genm $SIG -infotype crlStatusList -crlcert "$P/client.crt" -crlout "$work/crl.der"
# untrusted server certificate
ko untrusted_srv "trust|signer|verify" -cmd cr -cert "$P/client.crt" -key "$P/client.key" \
  -untrusted "$P/inter.crt" -trusted "$P/other-root.crt" -newkey "$P/new-ec.key" -subject "/CN=x"
cmpmock_stop

# ---- the signer's chain travels in extraCerts (RFC 9483 section 3.3) ----
# The mock knows only the root (no -srv_untrusted): it can verify a signed
# request only with the intermediate from the request's extraCerts, which
# pkie cmp builds from -untrusted. With a pinned -srvcert and no -untrusted the
# request carries only the signer and the mock rejects it ("no suitable
# sender cert").
cmpmock_start -srv_cert "$P/server.crt" -srv_key "$P/server.key" -srv_trusted "$P/root.crt" \
  -rsp_cert "$P/new-ec.crt" || { echo "FAIL: mock server did not start" >&2; exit 1; }
# (the mock caches the signer it validated last: the negative case first)
ko kur_nochain "no suitable sender cert" -cmd kur -cert "$P/client.crt" -key "$P/client.key" \
  -srvcert "$P/server.crt" -oldcert "$P/new-ec.crt" -newkey "$P/new-ec.key"
ok rr_chain -cmd rr $SIG -oldcert "$P/new-ec.crt" -revreason 1
ok kur_chain -cmd kur $SIG -oldcert "$P/new-ec.crt" -newkey "$P/new-ec.key" -certout "$work/kurc.pem" \
  -reqout "$work/kur_chain.req1.der,$work/kur_chain.req2.der" &&
  same_cert kur_chain "$work/kurc.pem" "$P/new-ec.crt"
# the kur carries the intermediate certificate itself, not the root
hexof() { od -An -tx1 -v | tr -d ' \n'; }
reqhex=$(hexof <"$work/kur_chain.req1.der")
interhex=$(openssl x509 -in "$P/inter.crt" -outform DER | hexof)
roothex=$(openssl x509 -in "$P/root.crt" -outform DER | hexof)
case $reqhex in *"$interhex"*) ;; *) fail "kur_chain: the intermediate is not in extraCerts" ;; esac
case $reqhex in *"$roothex"*) fail "kur_chain: the root is in extraCerts" ;; esac
cmpmock_stop

# ---- -ta_in_ip_extracerts (3GPP TS 33.310) and -no_cache_extracerts ----
# The mock adds its self-signed root to the extraCerts of ip/cp/kup
# (-rsp_extracerts); the client trusts only the unrelated root. The ip is
# accepted only with -ta_in_ip_extracerts, which takes that root as anchor for
# the signer and the new certificate (and pins the signer for the pkiConf,
# which carries no root); a cp never.
cmpmock_start $CMPMOCK_SIG -rsp_cert "$P/new-ec.crt" -rsp_extracerts "$P/root.crt" ||
  { echo "FAIL: mock server did not start" >&2; exit 1; }
TOFU="-cert $P/client.crt -key $P/client.key -untrusted $P/inter.crt -trusted $P/other-root.crt"
ko ta_in_ip_off "signer|trust" -cmd ir $TOFU -newkey "$P/new-ec.key" -subject "/CN=x"
ok ta_in_ip -cmd ir $TOFU -ta_in_ip_extracerts -newkey "$P/new-ec.key" -subject "/CN=x" \
  -certout "$work/ta.pem" -chainout "$work/ta_chain.pem" && same_cert ta_in_ip "$work/ta.pem" "$P/new-ec.crt"
grep -q "ta_in_ip_extracerts: trusting" "$work/ta_in_ip.out" || fail "ta_in_ip: no trust-on-first-use warning"
[ "$(grep -c 'BEGIN CERTIFICATE' "$work/ta_chain.pem" 2>/dev/null)" = 2 ] ||
  fail "ta_in_ip: -chainout is not inter + root from the ip"
ko ta_in_cp "signer|trust" -cmd cr $TOFU -ta_in_ip_extracerts -newkey "$P/new-ec.key" -subject "/CN=x"
# -no_cache_extracerts: every signed response of the mock carries the chain
ok no_cache_extracerts -cmd cr $SIG -no_cache_extracerts -newkey "$P/new-ec.key" -subject "/CN=x" \
  -extracertsout "$work/nc_extra.pem" -repeat 2
[ "$(grep -c 'BEGIN CERTIFICATE' "$work/nc_extra.pem" 2>/dev/null)" = 3 ] ||
  fail "no_cache_extracerts: -extracertsout is not the cp's server, inter and root"
cmpmock_stop
# a self-signed certificate in the ip that neither the signer nor the new
# certificate chains to: refused with the option too
cmpmock_start $CMPMOCK_SIG -rsp_cert "$P/new-ec.crt" -rsp_extracerts "$P/other-root.crt" ||
  { echo "FAIL: mock server did not start" >&2; exit 1; }
ko ta_in_ip_foreign_root "signer|trust" -cmd ir -cert "$P/client.crt" -key "$P/client.key" \
  -untrusted "$P/inter.crt" -trusted "$P/other-root.crt" -ta_in_ip_extracerts \
  -newkey "$P/new-ec.key" -subject "/CN=x"
cmpmock_stop

# rr status rules: revocationWarning/Notification are warnings, the others errors
for st in 1 4 5; do
  cmpmock_start $CMPMOCK_SIG -rsp_cert "$P/new-ec.crt" -pkistatus $st || { echo "FAIL: mock server did not start" >&2; exit 1; }
  ok "rr_status_$st" -cmd rr $SIG -oldcert "$P/new-ec.crt" -revreason 1
  cmpmock_stop
done
for st in 2 3 6; do
  cmpmock_start $CMPMOCK_SIG -rsp_cert "$P/new-ec.crt" -pkistatus $st -failure 2 -statusstring "st $st" || { echo "FAIL: mock server did not start" >&2; exit 1; }
  ko "rr_status_$st" "PKIStatus: (rejection|waiting|keyUpdateWarning)" -cmd rr $SIG -oldcert "$P/new-ec.crt"
  cmpmock_stop
done

# ---- implicit confirm granted: no certConf ----
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" -grant_implicitconf || { echo "FAIL: mock server did not start" >&2; exit 1; }
ok ir_granted -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -implicit_confirm $(reqs ir_granted)
[ "$(count ir_granted)" = 1 ] || fail "implicit confirm granted: expected 1 request, got $(count ir_granted)"
cmpmock_stop

# ---- polling ----
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" -poll_count 2 -check_after 1 || { echo "FAIL: mock server did not start" >&2; exit 1; }
t0=$(date +%s)
ok poll -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -certout "$work/poll.pem" $(reqs poll) &&
  same_cert poll "$work/poll.pem" "$P/new-ec.crt"
t1=$(date +%s)
[ $((t1 - t0)) -ge 1 ] || fail "poll: did not wait checkAfter"
[ "$(count poll)" -ge 3 ] || fail "poll: expected ir, pollReq..., certConf; got $(count poll) requests"
cmpmock_stop
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" -poll_count 3 -check_after 5 || { echo "FAIL: mock server did not start" >&2; exit 1; }
t0=$(date +%s)
ko poll_total_timeout "total timeout|timed out|TIMEOUT" -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -total_timeout 3
t1=$(date +%s)
[ $((t1 - t0)) -le 6 ] || fail "poll_total_timeout: took $((t1 - t0)) s"
cmpmock_stop

# ---- rejection, unprotected ----
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" -send_unprot_err -pkistatus 2 -failure 2 \
  -statusstring "pkie test rejection" || { echo "FAIL: mock server did not start" >&2; exit 1; }
ko unprot_err_refused "not protected|protection|PROT" -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x"
ko unprot_err_accepted "PKIStatus: rejection; PKIFailureInfo: badRequest; StatusString: \"pkie test rejection\"" \
  -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -unprotected_errors
cmpmock_stop
cmpmock_start $CMPMOCK_MAC -send_error -send_unprot_err || { echo "FAIL: mock server did not start" >&2; exit 1; }
ko error_msg "server error|PKIStatus" -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" -unprotected_errors
cmpmock_stop

# ---- proxy: the request goes to the proxy in absolute form (the mock, used
# as the proxy, refuses that form with 400, which proves where it went);
# -no_proxy bypasses it (and cmp.invalid does not resolve)
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" || { echo "FAIL: mock server did not start" >&2; exit 1; }
proxy=$CMPMOCK_URL
CMPMOCK_URL=cmp.invalid/pkix/
ko proxy "HTTP status 400" -cmd ir $MAC -newkey "$P/new-ec.key" -subject /CN=x -proxy "$proxy"
cmpmock_log | grep -q "POST http://cmp.invalid/pkix/" || fail "proxy: the request did not reach the proxy"
ko no_proxy "resolve" -cmd ir $MAC -newkey "$P/new-ec.key" -subject /CN=x -proxy "$proxy" -no_proxy cmp.invalid
cmpmock_stop

# ---- HTTPS with its own trust store (-tls_trusted) and -tls_host: an
# openssl s_server answers one request with a canned HTTP response whose
# Content-Type is wrong, which proves the whole round trip over TLS
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls.key" \
  -subj "/CN=tls" -addext "subjectAltName=IP:127.0.0.1,DNS:cmp.test" -CA "$P/root.crt" \
  -CAkey "$P/root.key" -days 2 -out "$work/tls.crt" >/dev/null 2>&1 || fail "TLS certificate"
tls_srv() { # tls_srv [S_SERVER_OPTION...]
  # a fresh log: the previous server's ACCEPT must not pass for this one's
  rm -f "$work/s_server.log"
  (printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok'; sleep 8) |
    openssl s_server -accept 127.0.0.1:4433 -cert "$work/tls.crt" -key "$work/tls.key" \
      -naccept 1 "$@" >"$work/s_server.log" 2>&1 &
  tls_pid=$!
  _n=0
  while ! grep -q ACCEPT "$work/s_server.log" 2>/dev/null && [ $_n -lt 100 ]; do sleep 0.1; _n=$((_n + 1)); done
}
tls_end() { # s_server exits after its one connection; give it a moment to say so
  _n=0
  while kill -0 "$tls_pid" 2>/dev/null && [ $_n -lt 20 ]; do sleep 0.1; _n=$((_n + 1)); done
  kill "$tls_pid" 2>/dev/null
  wait "$tls_pid" 2>/dev/null
}
CMPMOCK_URL=https://127.0.0.1:4433/pkix
tls_srv
ko https "Content-Type 'text/plain'" -cmd ir $MAC -newkey "$P/new-ec.key" -subject /CN=x -tls_trusted "$P/root.crt"
tls_end
tls_srv
ko https_untrusted "CMP_CLIENT_TLS" -cmd ir $MAC -newkey "$P/new-ec.key" -subject /CN=x -tls_trusted "$P/other-root.crt"
tls_end
CMPMOCK_URL=127.0.0.1:4433/pkix
tls_srv
ko tls_host "Content-Type 'text/plain'" -cmd ir $MAC -newkey "$P/new-ec.key" -subject /CN=x -tls_used \
  -tls_trusted "$P/root.crt" -tls_host cmp.test
tls_end
tls_srv
ko tls_host_wrong "CMP_CLIENT_TLS" -cmd ir $MAC -newkey "$P/new-ec.key" -subject /CN=x -tls_used \
  -tls_trusted "$P/root.crt" -tls_host other.test
tls_end
# -tls_extra: the server trusts only the root and asks for a client
# certificate; ours is issued by the intermediate, which only -tls_extra sends
CMPMOCK_URL=https://127.0.0.1:4433/pkix
TLSCLI="-tls_trusted $P/root.crt -tls_cert $P/client.crt -tls_key $P/client.key"
tls_srv -Verify 2 -verify_return_error -CAfile "$P/root.crt"
# shellcheck disable=SC2086
ko tls_extra_missing "CMP_CLIENT_(TLS|HTTP)" -cmd ir $MAC -newkey "$P/new-ec.key" -subject /CN=x $TLSCLI
tls_end
grep -q "unable to get local issuer certificate" "$work/s_server.log" ||
  fail "tls_extra_missing: the server did not refuse the incomplete client chain"
tls_srv -Verify 2 -verify_return_error -CAfile "$P/root.crt"
# shellcheck disable=SC2086
ko tls_extra "Content-Type 'text/plain'" -cmd ir $MAC -newkey "$P/new-ec.key" -subject /CN=x $TLSCLI \
  -tls_extra "$P/inter.crt"
tls_end
ko tls_extra_alone "-tls_extra needs -tls_cert" -cmd ir $MAC -newkey "$P/new-ec.key" -subject /CN=x \
  -tls_trusted "$P/root.crt" -tls_extra "$P/inter.crt"

# ---- a server that never answers: error within -msg_timeout ----
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" || { echo "FAIL: mock server did not start" >&2; exit 1; }
kill -STOP "$CMPMOCK_PID"
t0=$(date +%s)
cases=$((cases + 1))
rc=0
# shellcheck disable=SC2086
timeout -k 2 30 $PKIECMP -server "$CMPMOCK_URL" -cmd ir $MAC -newkey "$P/new-ec.key" -subject "/CN=x" \
  -certout "$work/hang.pem" -msg_timeout 2 >"$work/hang.out" 2>&1 || rc=$?
t1=$(date +%s)
[ "$rc" = 1 ] || fail "no answer: exit $rc"
[ $((t1 - t0)) -le 8 ] || fail "no answer: took $((t1 - t0)) s with -msg_timeout 2"
grep -Eq "within|timed out|TIMEOUT" "$work/hang.out" || { fail "no answer: no timeout message"; cat "$work/hang.out" >&2; }
kill -CONT "$CMPMOCK_PID"
cmpmock_stop

# ---- the command's own contract (no server needed) ----
CMPMOCK_URL=127.0.0.1:9
ko unknown_option "unknown option '-nosuch'" -cmd ir -nosuch
ko missing_file "could not load .* from '$work/nosuch.key'" -cmd ir $MAC -newkey "$work/nosuch.key" -subject /CN=x
ko no_cmd "missing -cmd" $MAC
ko bad_cmd "-cmd 'xyz'" -cmd xyz $MAC
ko p10cr_no_csr "missing PKCS#10 CSR for p10cr" -cmd p10cr $MAC
ko rr_no_oldcert "missing -oldcert or -issuer and -serial" -cmd rr $MAC
ko no_credentials "must give -key or -secret" -cmd ir -newkey "$P/new-ec.key"
ko cert_without_key "must give -key or -secret" -cmd cr -cert "$P/client.crt" -newkey "$P/new-ec.key"
ko key_without_cert "must give both -cert and -key" -cmd cr -key "$P/new-ec.key" -subject /CN=x \
  -newkey "$P/new-ec.key"
ko key_mismatch "does not match" -cmd cr -cert "$P/client.crt" -key "$P/new-ec.key"
ko revreason_7 "revreason 7" -cmd rr $MAC -oldcert "$P/new-ec.crt" -revreason 7
# as OpenSSL 3's get_passwd: a secret without a source prefix is the secret itself
ko bad_secret_src "Trying plain input string" -cmd ir -ref x -secret test -newkey "$P/new-ec.key"
ko env_secret_unset "PKIE_NO_SUCH_VAR" -cmd ir -ref x -secret env:PKIE_NO_SUCH_VAR -newkey "$P/new-ec.key"
ko mock_option "not supported" -cmd ir -port 1234
ko bad_section "no \\[nosuch\\] section" -config "$work/cmp.cnf" -section nosuch
ko bad_number "invalid non-negative number" -cmd ir -msg_timeout -3
ko no_server_up "connect|Connection|CONNECT" -cmd ir $MAC -newkey "$P/new-ec.key" -subject /CN=x
# one line: every contract error is a single line
for n in unknown_option missing_file no_cmd p10cr_no_csr; do
  [ "$(wc -l <"$work/$n.out")" = 1 ] || fail "$n: error is not one line: $(cat "$work/$n.out")"
done

echo "cmpclient_interop: $cases cases, $failures failures"
[ "$failures" = 0 ]
