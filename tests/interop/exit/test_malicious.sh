#!/bin/sh
# Interop: an exit that returns malformed answers (exit_malicious.so). One
# server process serves a series of sessions: session 2i-1 gets the i-th kind
# of bad answer, session 2i a good one. For every kind: the odd session is
# refused with a log line naming the exit and the phase, nothing unverified
# reaches the peer (it gets our internal_error alert, never a bad signature),
# and the next session is served.
. "$(dirname "$0")/lib.sh"
MX=$TEXITS/exit_malicious.so
IK="pki.base=$P/pki.db pki.password=$P/pki.pw"
base="chain=$P/srv-ec.chain.pem key=$P/srv-ec.key ca=$P/root.crt other=$P/cli-other.chain.pem:$P/cli-other.key"

phase_of() {
  case $1 in
  profile_*) echo StartHandshake ;;
  chain_other) echo CryptData ;;
  chain_*) echo GetCertificate ;;
  names_*) echo GetCAList ;;
  alert_unknown | accept_garbage) echo CheckCertificate ;;
  sig_* | key_*) echo CryptData ;;
  *@2) echo StartHandshake ;; *@3) echo GetCertificate ;; *@4) echo GetCAList ;;
  *@5) echo CheckCertificate ;; *@6) echo CryptData ;; *@8) echo HandshakeDone ;;
  esac
}

# series VERSION "KINDS" [EXTRA-CONF [tlsdrv args]]
series() {
  m_v=$1 m_kinds=$2 m_extra=${3:-}
  shift 2
  [ $# -gt 0 ] && shift
  m_list=$(echo $m_kinds | tr ' ' ',')
  m_n=$(echo $m_kinds | wc -w)
  # shellcheck disable=SC2086
  conf mal pki.type=exit "pki.exit.libpath=$MX" $IK "pki.exit.conf=$base bad=$m_list $m_extra"
  server mal $((2 * m_n)) "$@"
  m_i=1
  for m_k in $m_kinds; do
    sclient "$m_v" cli-ec
    mv "$W/sc.out" "$W/sc.$m_i.bad"
    sclient "$m_v" cli-ec
    mv "$W/sc.out" "$W/sc.$m_i.good"
    m_i=$((m_i + 1))
  done
  server_wait || true
  m_i=1
  for m_k in $m_kinds; do
    m_odd=$((2 * m_i - 1))
    m_even=$((2 * m_i))
    m_ph=$(phase_of "$m_k")
    m_d="$m_k ($m_ph, $m_v$m_extra)"
    check "$m_d: session refused" has srv.out "session $m_odd refused"
    check "$m_d: log names exit and phase" \
      has srv.out "exit exit_malicious.so phase $m_ph: task 1 session $m_odd refused"
    check "$m_d: peer got no data" hasnt "sc.$m_i.bad" "pong"
    check "$m_d: peer saw no bad signature" hasnt "sc.$m_i.bad" "bad signature\|decrypt error\|alert number 51"
    case $m_k in
    sig_* | key_*)
      check "$m_d: peer received internal_error" has "sc.$m_i.bad" "alert number 80" ;;
    chain_other)
      # The certificate (public, well-formed) may reach the peer before the
      # mismatch shows at the signature: the peer may refuse it first; what
      # it never gets is a signature that does not verify (checked above).
      check "$m_d: mismatch logged" has srv.out "session $m_odd refused.*\(does not match\|does not verify\)" ;;
    error_notext*)
      check "$m_d: logged as an error without text" has srv.out "phase $m_ph: error (no error text)" ;;
    error_unterminated*)
      check "$m_d: logged as an unterminated text" has srv.out "phase $m_ph: error (error text not terminated)" ;;
    rc_weird*)
      check "$m_d: unknown return code taken as an error" has srv.out "phase $m_ph: unknown return code 42" ;;
    esac
    check "$m_d: next session served" has srv.out "session $m_even ok"
    check "$m_d: next session's peer got data" has "sc.$m_i.good" "pong"
    m_i=$((m_i + 1))
  done
}

# answers checked before any signature
series tls1_3 "profile_depth profile_id profile_count chain_der chain_len chain_count chain_empty
  chain_trailing names_der names_len names_count alert_unknown accept_garbage
  error_notext@2 error_notext@3 error_notext@4 error_notext@5 error_notext@6 error_notext@8
  error_unterminated@3 error_unterminated@6 rc_weird@3 rc_weird@6"
# signatures differ between TLS 1.2 (ServerKeyExchange) and 1.3 (CertificateVerify)
for v in tls1_2 tls1_3; do
  series $v "chain_other sig_wrong sig_len sig_empty sig_other key_other key_der key_len"
  # the exit's chain with the base's key (CryptData not handled): mismatch
  series $v "chain_other" " nothandled=64" --cert-id srv-ec
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
