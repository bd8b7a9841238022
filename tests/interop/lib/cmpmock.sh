# cmpmock.sh: start, wait for and stop OpenSSL's mock CMP server
# (`openssl cmp -port N ...`), and run `openssl cmp` client transactions
# against it. Source it from a POSIX sh or bash test script:
#
#   . "$PKIE_SRC_DIR/tests/interop/lib/cmpmock.sh"
#   cmpmock_pki "$work/pki"                # sets CMPMOCK_MAC, CMPMOCK_SIG, ...
#   cmpmock_start $CMPMOCK_MAC -rsp_cert "$work/pki/new-ec.crt"
#   cmpclient ir_mac -cmd ir $CMPCLIENT_MAC -newkey "$work/pki/new-ec.key" \
#       -subject /CN=test -certout "$work/out.pem"
#   cmpmock_stop
#
# The mock binds every interface ([::]:PORT), so tests run it inside the
# private network namespace of tests/netns-run (pkie_interop_test does that);
# it is reached at 127.0.0.1:$CMPMOCK_PORT.
#
# Functions
#   cmpmock_start [MOCKOPT...]  start a mock with these options (see below);
#                               waits (at most CMPMOCK_WAIT seconds, default 10)
#                               until it listens; sets CMPMOCK_PID, CMPMOCK_PORT,
#                               CMPMOCK_URL (127.0.0.1:PORT), CMPMOCK_LOG.
#                               Port: $CMPMOCK_LISTEN if set, else 0, i.e. the
#                               kernel picks a free one (read back from the
#                               mock's "ACCEPT [::]:PORT PID=..." line).
#                               Returns 1 (after printing the log) if it does
#                               not come up.
#   cmpmock_stop [PID]          stop that mock (default: the last started):
#                               SIGTERM, then SIGKILL after 2 s.
#   cmpmock_cleanup             stop every mock still running; installed as the
#                               EXIT trap unless CMPMOCK_NO_TRAP=1 (then call it
#                               from your own trap).
#   cmpmock_log [PID]           print that mock's log (stdout + stderr).
#   cmpclient NAME [OPT...]     run one `openssl cmp` client transaction against
#                               the last started mock, with -server, -config "",
#                               -batch, timeouts, and every request / response
#                               saved as $CMPCLIENT_OUT/NAME.req<N>.der and
#                               NAME.rsp<N>.der (N = 1, 2, ...; CMPCLIENT_OUT
#                               defaults to the current directory; the
#                               server is $CMPCLIENT_SERVER when set, e.g. a
#                               `pkie ca serve` address; the client is
#                               $CMPCLIENT_CMD when set, e.g. "$PKIE_BIN cmp",
#                               which takes the same options). Quiet; on
#                               failure prints the client's output and returns
#                               its status. Bounded by CMPCLIENT_TIMEOUT
#                               seconds (default 30).
#   cmpmock_pki DIR             set option strings for a PKI made by testpki.sh:
#     CMPMOCK_MAC    -srv_ref test -srv_secret pass:test
#     CMPMOCK_SIG    -srv_cert server.crt -srv_key server.key
#                    -srv_untrusted inter.crt -srv_trusted root.crt
#     CMPCLIENT_MAC  -ref test -secret pass:test
#     CMPCLIENT_SIG  -cert client.crt -key client.key -untrusted inter.crt
#                    -trusted root.crt
#     (expanded unquoted: the PKI path must not contain blanks)
#
# What OpenSSL 3.0.19's mock server does (found by running it; see also
# tests/data/cmp/README.md):
# - Response protection: MAC (PasswordBasedMac, owf sha256, 500 iterations,
#   hmac-sha1, senderKID from -srv_ref) with -srv_secret, signature with
#   -srv_cert/-srv_key. Given both, it answers in kind: MAC-protected
#   requests get MAC-protected responses, signed requests signed ones.
#   Signed responses carry extraCerts = the signer and the chain it builds
#   from -srv_untrusted (root excluded), plus -rsp_extracerts in ip/cp/kup.
# - Request checking: MAC-protected requests need -srv_secret; signed
#   requests need -srv_trusted (chain anchors; intermediates from the
#   request's extraCerts or -srv_untrusted). -accept_unprotected takes
#   unprotected requests; -accept_unprot_err unprotected error messages;
#   -accept_raverified POPO raVerified (-popo 0).
# - Enrollment: it returns -rsp_cert whatever was asked; the openssl client
#   checks that this certificate matches its new key, so -rsp_cert must belong
#   to the client's -newkey (p10cr: the CSR's key). -rsp_capubs fills caPubs.
# - kur: the oldCertID control must name -rsp_cert (issuer + serial), else
#   "wrong certid"; rr: the revoked certificate must be -rsp_cert, else the
#   request is rejected. (3.0 has no -ref_cert, -rsp_crl, -rsp_newwithnew...)
# - Polling: -poll_count N answers the first request with status waiting, then
#   N-1 pollRep with checkAfter -check_after, then the certificate.
# - -grant_implicitconf grants implicitConfirm when the client asks
#   (-implicit_confirm): no certConf/pkiConf follows.
# - Negative answers: -pkistatus S -failure BIT | -failurebits MASK
#   -statusstring TEXT in the ip/cp/kup/rp; -send_error answers with an error
#   message; -send_unprot_err sends negative answers unprotected (the client
#   needs -unprotected_errors); -send_unprotected leaves every response
#   unprotected.
# - genm: the 3.0 mock answers a genp that echoes the request's ITAVs.
# - A long-lived mock that validated signed requests from several different
#   signers (here: client, an RSA and an Ed25519 signer, then a kur signed by
#   new-ec) crashed with SIGSEGV in X509_check_akid under
#   OSSL_CMP_validate_msg (its cached sender certificate, cf. OpenSSL PR
#   #28973): start a fresh mock per signer.
# - Connections: one at a time. It answers "HTTP/1.0 200 OK" and keeps the
#   connection when the request asked for keep-alive (an HTTP/1.1 POST from
#   curl got "Connection: keep-alive"); the openssl client posts HTTP/1.0.
#   It serves until killed, or exits after -max_msgs N messages.

CMPMOCK_PIDS=${CMPMOCK_PIDS:-}
CMPMOCK_DIR=${CMPMOCK_DIR:-}
OPENSSL=${OPENSSL:-openssl}

cmpmock__dir() {
  if [ -z "$CMPMOCK_DIR" ]; then
    CMPMOCK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cmpmock.XXXXXX")
    CMPMOCK_OWN_DIR=1
  fi
}

cmpmock_pki() {
  CMPMOCK_MAC="-srv_ref test -srv_secret pass:test"
  CMPMOCK_SIG="-srv_cert $1/server.crt -srv_key $1/server.key -srv_untrusted $1/inter.crt -srv_trusted $1/root.crt"
  CMPCLIENT_MAC="-ref test -secret pass:test"
  CMPCLIENT_SIG="-cert $1/client.crt -key $1/client.key -untrusted $1/inter.crt -trusted $1/root.crt"
}

cmpmock_log() {
  _pid=${1:-$CMPMOCK_PID}
  cat "$CMPMOCK_DIR/mock.$_pid.log" 2>/dev/null || true
}

cmpmock_start() {
  cmpmock__dir
  # The log is named before the fork and never renamed: the child may open
  # its redirection after the parent has gone on (a rename raced with it).
  CMPMOCK_LOG=$(mktemp "$CMPMOCK_DIR/mock.XXXXXX") || return 1
  "$OPENSSL" cmp -config "" -port "${CMPMOCK_LISTEN:-0}" "$@" >"$CMPMOCK_LOG" 2>&1 &
  CMPMOCK_PID=$!
  CMPMOCK_PIDS="$CMPMOCK_PIDS $CMPMOCK_PID"
  ln -sf "$CMPMOCK_LOG" "$CMPMOCK_DIR/mock.$CMPMOCK_PID.log"
  CMPMOCK_PORT=
  _tries=$(( ${CMPMOCK_WAIT:-10} * 20 ))
  while [ "$_tries" -gt 0 ]; do
    CMPMOCK_PORT=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\) PID=.*/\1/p' "$CMPMOCK_LOG" 2>/dev/null)
    [ -n "$CMPMOCK_PORT" ] && break
    if ! kill -0 "$CMPMOCK_PID" 2>/dev/null; then
      break
    fi
    sleep 0.05
    _tries=$((_tries - 1))
  done
  if [ -z "$CMPMOCK_PORT" ]; then
    echo "cmpmock: mock server did not start (openssl cmp -port ${CMPMOCK_LISTEN:-0} $*):" >&2
    cat "$CMPMOCK_LOG" >&2
    cmpmock_stop "$CMPMOCK_PID"
    return 1
  fi
  CMPMOCK_URL="127.0.0.1:$CMPMOCK_PORT"
  return 0
}

cmpmock_stop() {
  _pid=${1:-${CMPMOCK_PID:-}}
  [ -n "$_pid" ] || return 0
  if kill -0 "$_pid" 2>/dev/null; then
    kill -TERM "$_pid" 2>/dev/null || true
    _tries=40
    while kill -0 "$_pid" 2>/dev/null && [ "$_tries" -gt 0 ]; do
      sleep 0.05
      _tries=$((_tries - 1))
    done
    kill -KILL "$_pid" 2>/dev/null || true
  fi
  wait "$_pid" 2>/dev/null || true
  _rest=
  for _q in $CMPMOCK_PIDS; do
    [ "$_q" = "$_pid" ] || _rest="$_rest $_q"
  done
  CMPMOCK_PIDS=$_rest
  return 0
}

cmpmock_cleanup() {
  for _p in $CMPMOCK_PIDS; do
    cmpmock_stop "$_p"
  done
  if [ "${CMPMOCK_OWN_DIR:-}" = 1 ] && [ -n "$CMPMOCK_DIR" ]; then
    rm -rf "$CMPMOCK_DIR"
    CMPMOCK_DIR=
    CMPMOCK_OWN_DIR=
  fi
}

# cmpclient NAME [OPT...]
cmpclient() {
  _name=$1
  shift
  _out=${CMPCLIENT_OUT:-.}
  _req= _rsp=
  for _n in 1 2 3 4 5 6 7 8; do
    _req="$_req${_req:+,}$_out/$_name.req$_n.der"
    _rsp="$_rsp${_rsp:+,}$_out/$_name.rsp$_n.der"
  done
  rm -f "$_out/$_name".req*.der "$_out/$_name".rsp*.der
  cmpmock__dir
  _clog="$CMPMOCK_DIR/client.$_name.log"
  _rc=0
  # shellcheck disable=SC2086
  timeout -k 2 "${CMPCLIENT_TIMEOUT:-30}" ${CMPCLIENT_CMD:-$OPENSSL cmp} -config "" -batch \
    -server "${CMPCLIENT_SERVER:-127.0.0.1:$CMPMOCK_PORT}" -msg_timeout 10 -total_timeout 20 \
    -reqout "$_req" -rspout "$_rsp" -verbosity "${CMPCLIENT_VERBOSITY:-4}" "$@" \
    >"$_clog" 2>&1 || _rc=$?
  if [ "$_rc" != 0 ] && [ "${CMPCLIENT_EXPECT_FAIL:-0}" != 1 ]; then
    echo "cmpclient $_name: openssl cmp exited with $_rc:" >&2
    cat "$_clog" >&2
    echo "-- mock server log:" >&2
    cmpmock_log >&2
  fi
  return "$_rc"
}

if [ "${CMPMOCK_NO_TRAP:-0}" != 1 ]; then
  trap cmpmock_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
fi
