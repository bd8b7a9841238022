#!/bin/sh
# Interop: an exit that returns malformed answers (exit_malicious.so, bad in
# odd sessions only). For every kind: session 1 is refused with a log line
# naming the exit and the phase, nothing unverified reaches the peer (it gets
# our internal_error alert instead of a bad signature), and session 2 is served.
. "$(dirname "$0")/lib.sh"
MX=$TEXITS/exit_malicious.so
IK="pki.base=$P/pki.db pki.password=$P/pki.pw"
base="chain=$P/srv-ec.chain.pem key=$P/srv-ec.key ca=$P/root.crt other=$P/cli-other.chain.pem:$P/cli-other.key"

# run KIND PHASE-NAME VERSION [EXTRA-CONF] [tlsdrv profile args]
run() {
  kind=$1 phname=$2 v=$3 extra=$4
  shift 4
  # shellcheck disable=SC2086
  conf mal pki.type=exit "pki.exit.libpath=$MX" $IK "pki.exit.conf=$base bad=$kind $extra"
  server mal 2 "$@"
  sclient "$v" cli-ec
  cp "$W/sc.out" "$W/sc1.out"
  sclient "$v" cli-ec
  server_wait || true
  d="$kind ($phname, $v)"
  check "$d: session 1 refused" has srv.out "session 1 refused"
  check "$d: log names exit and phase" has srv.out "exit exit_malicious.so phase $phname: task 1 session 1 refused"
  check "$d: peer got no data" hasnt sc1.out "pong"
  check "$d: peer saw no bad signature" hasnt sc1.out "bad signature\|decrypt error\|alert number 51"
  check "$d: next session served" has srv.out "session 2 ok"
  check "$d: next session's peer got data" has sc.out "pong"
}
# answers checked before any signature: TLS 1.3 is enough
v=tls1_3
for k in profile_depth profile_id profile_count; do run $k StartHandshake $v ""; done
for k in chain_der chain_len chain_count chain_empty chain_trailing; do
  run $k GetCertificate $v ""
done
for k in names_der names_len names_count; do run $k GetCAList $v ""; done
for k in alert_unknown accept_garbage; do run $k CheckCertificate $v ""; done
# signatures differ between TLS 1.2 (ServerKeyExchange) and 1.3 (CertificateVerify)
for v in tls1_2 tls1_3; do
  run chain_other CryptData $v ""
  run chain_other CryptData $v "nothandled=64" --cert-id srv-ec
  for k in sig_wrong sig_len sig_empty sig_other key_other key_der key_len; do
    run $k CryptData $v ""
    check "$k ($v): peer received internal_error" has sc1.out "alert number 80"
  done
done
for ph in "2 StartHandshake" "3 GetCertificate" "4 GetCAList" "5 CheckCertificate" "6 CryptData" "8 HandshakeDone"; do
  set -- $ph
  run error_notext "$2" tls1_3 "error=$1"
  check "error without text ($2) logged as such" has srv.out "phase $2: error (no error text)"
done
for ph in "3 GetCertificate" "6 CryptData"; do
  set -- $ph
  run error_unterminated "$2" tls1_3 "error=$1"
  check "unterminated error text ($2) logged as such" has srv.out "phase $2: error (error text not terminated)"
  run rc_weird "$2" tls1_3 "error=$1"
  check "unknown return code ($2) taken as an error" has srv.out "phase $2: unknown return code 42"
done

# client side: the malicious exit as a TLS client against openssl s_server
cbase="chain=$P/cli-ec.chain.pem key=$P/cli-ec.key ca=$P/root.crt other=$P/cli-other.chain.pem:$P/cli-other.key"
for k in chain_der sig_wrong key_other alert_unknown profile_depth; do
  conf malc pki.type=exit "pki.exit.libpath=$MX" "pki.exit.conf=$cbase bad=$k"
  SSNACCEPT=2 sserver srv-ec -tls1_3
  "$DRV" client --conf "$W/malc.conf" --port "$PORT" --count 2 >"$W/cl.out" 2>&1 || true
  sserver_wait
  check "client $k: session 1 refused" has cl.out "session 1 refused"
  check "client $k: session 2 served" has cl.out "session 2 ok"
  check "client $k: server saw no bad signature" hasnt ss.out "bad signature\|decrypt error"
done
finish
