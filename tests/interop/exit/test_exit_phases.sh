#!/bin/sh
# Interop: every phase handled by an exit, not handled (the internal PKI base
# takes over) and in error, as server (openssl s_client peer) and client
# (openssl s_server peer), TLS 1.2 and 1.3, EC / RSA / Ed25519 keys, CryptData
# answered by a signature or by a PKCS#8 key.
. "$(dirname "$0")/lib.sh"
HA=$TEXITS/exit_handles_all.so
IK="pki.base=$P/pki.db pki.password=$P/pki.pw"
# exitconf NAME ROLE KEYTYPE EXTRA: an exit configuration for handles_all
exitconf() {
  # shellcheck disable=SC2086
  conf "$1" pki.type=exit "pki.exit.libpath=$HA" $IK \
    "pki.exit.conf=chain=$P/$2-$3.chain.pem key=$P/$2-$3.key ca=$P/root.crt $4"
}
GLOBAL=68616e646c65732d616c6c20 # "handles-all " in the global area

for k in ec rsa ed; do
  for sign in sig pkcs8; do
    exitconf srv srv $k "sign=$sign"
    exitconf cli cli $k "sign=$sign"
    for v in tls1_2 tls1_3; do
      server srv 1
      sclient $v "cli-$k" -cert_chain "$P/inter.crt"
      server_wait || true
      check "exit server $k $sign $v: data" has sc.out "pong TLSv1.${v#tls1_}"
      check "exit server $k $sign $v: HandshakeDone global area" has srv.out "global=$GLOBAL"
      sserver "srv-$k" -$v
      "$DRV" client --conf "$W/cli.conf" --port "$PORT" >"$W/cl.out" 2>&1 || true
      sserver_wait
      check "exit client $k $sign $v: data" has cl.out "session 1 ok .*global=$GLOBAL.*reply=olleh"
    done
  done
done
# TLS 1.2 RSA PKCS#1 v1.5 through CryptData
exitconf srv srv rsa ""
server srv 1
sclient tls1_2 cli-rsa -sigalgs RSA+SHA256
server_wait || true
check "exit server rsa-pkcs1 tls1_2" has sc.out "pong TLSv1.2"

# not handled, phase by phase: the internal base does that step
for ph in 2 3 4 5 6 7 8 9; do
  m=$((1 << ph))
  exitconf srv srv ec "nothandled=$m"
  exitconf cli cli ec "nothandled=$m"
  for v in tls1_2 tls1_3; do
    server srv 1 --cert-id srv-ec --ca-id root
    sclient $v cli-ec
    server_wait || true
    check "server, phase $ph not handled, $v" has sc.out "pong"
    [ $v = tls1_3 ] || continue
    sserver srv-ec -$v
    "$DRV" client --conf "$W/cli.conf" --port "$PORT" --cert-id cli-ec --ca-id root \
      >"$W/cl.out" 2>&1 || true
    sserver_wait
    check "client, phase $ph not handled, $v" has cl.out "session 1 ok"
  done
done
# phases not asked for at StartTask are done internally too
exitconf srv srv ec "skip=$(((1 << 3) | (1 << 6)))"
server srv 1 --cert-id srv-ec --ca-id root
sclient tls1_3 cli-ec
server_wait || true
check "server, GetCertificate and CryptData not asked for" has sc.out "pong"

# error, phase by phase: the session is refused, fail closed
name() {
  case $1 in
  2) echo StartHandshake ;; 3) echo GetCertificate ;; 4) echo GetCAList ;;
  5) echo CheckCertificate ;; 6) echo CryptData ;; 8) echo HandshakeDone ;;
  esac
}
for ph in 2 3 4 5 6 8; do
  exitconf srv srv ec "error=$ph"
  vs=tls1_3
  [ $ph = 6 ] && vs="tls1_2 tls1_3"
  for v in $vs; do
    server srv 2
    sclient $v cli-ec
    cp "$W/sc.out" "$W/sc1.out"
    sclient $v cli-ec
    server_wait || true
    check "server, error in phase $ph, $v: refused" has srv.out "session 1 refused"
    check "server, error in phase $ph, $v: no data" hasnt sc1.out "pong"
    check "server, error in phase $ph, $v: log names exit and phase" \
      has srv.out "exit exit_handles_all.so phase $(name $ph): task 1 session 1 refused: error: forced error"
    check "server, error in phase $ph, $v: next session served (and refused)" \
      has srv.out "session 2 refused"
  done
done
for ph in 2 3 5 6 8; do
  exitconf cli cli ec "error=$ph"
  sserver srv-ec -tls1_3
  "$DRV" client --conf "$W/cli.conf" --port "$PORT" >"$W/cl.out" 2>&1 || true
  sserver_wait
  check "client, error in phase $ph: refused" has cl.out "session 1 refused"
  check "client, error in phase $ph: logged" has cl.out "phase $(name $ph): .*forced error"
done
finish
