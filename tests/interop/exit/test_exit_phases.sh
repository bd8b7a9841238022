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
    server srv 2
    for v in tls1_2 tls1_3; do
      sclient $v "cli-$k" -cert_chain "$P/inter.crt"
      mv "$W/sc.out" "$W/sc.$v"
    done
    server_wait || true
    for v in tls1_2 tls1_3; do
      check "exit server $k $sign $v: data" has "sc.$v" "pong TLSv1.${v#tls1_}"
    done
    check "exit server $k $sign: HandshakeDone global area" has srv.out "session 2 ok.*global=$GLOBAL"
    for v in tls1_2 tls1_3; do
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

# not handled, phase by phase (session i: phase of the i-th spec not handled);
# one server process serves them all
specs=""
for ph in 2 3 4 5 6 7 8 9; do specs="$specs,n$((1 << ph))"; done
specs=${specs#,}
for v in tls1_2 tls1_3; do
  exitconf srv srv ec "per=$specs"
  server srv 8 --cert-id srv-ec --ca-id root
  for ph in 2 3 4 5 6 7 8 9; do
    sclient $v cli-ec
    mv "$W/sc.out" "$W/sc.$ph"
  done
  server_wait || true
  i=1
  for ph in 2 3 4 5 6 7 8 9; do
    check "server, phase $ph not handled, $v" has "sc.$ph" "pong"
    check "server, phase $ph not handled, $v: served" has srv.out "session $i ok"
    i=$((i + 1))
  done
done
exitconf cli cli ec "per=$specs"
SSNACCEPT=8 sserver srv-ec -tls1_3
"$DRV" client --conf "$W/cli.conf" --port "$PORT" --cert-id cli-ec --ca-id root --count 8 \
  >"$W/cl.out" 2>&1 || true
sserver_wait
i=1
for ph in 2 3 4 5 6 7 8 9; do
  check "client, phase $ph not handled, tls1_3" has cl.out "session $i ok"
  i=$((i + 1))
done
# phases not asked for at StartTask are done internally too
exitconf srv srv ec "skip=$(((1 << 3) | (1 << 6)))"
server srv 1 --cert-id srv-ec --ca-id root
sclient tls1_3 cli-ec
server_wait || true
check "server, GetCertificate and CryptData not asked for" has sc.out "pong"

# error, phase by phase: the session is refused (fail closed) and the next
# one served: sessions alternate an error in phase N and no error
name() {
  case $1 in
  2) echo StartHandshake ;; 3) echo GetCertificate ;; 4) echo GetCAList ;;
  5) echo CheckCertificate ;; 6) echo CryptData ;; 8) echo HandshakeDone ;;
  esac
}
for v in tls1_2 tls1_3; do
  phs="2 3 4 5 6 8"
  [ $v = tls1_2 ] && phs=6
  specs=""
  for ph in $phs; do specs="$specs,e$ph,-"; done
  exitconf srv srv ec "per=${specs#,}"
  server srv $((2 * $(echo $phs | wc -w)))
  for ph in $phs; do
    sclient $v cli-ec
    mv "$W/sc.out" "$W/sc.$ph.err"
    sclient $v cli-ec
    mv "$W/sc.out" "$W/sc.$ph.ok"
  done
  server_wait || true
  i=1
  for ph in $phs; do
    d="server, error in phase $ph, $v"
    check "$d: refused" has srv.out "session $i refused"
    check "$d: no data" hasnt "sc.$ph.err" "pong"
    check "$d: log names exit and phase" \
      has srv.out "exit exit_handles_all.so phase $(name $ph): task 1 session $i refused: error: forced error"
    check "$d: next session served" has srv.out "session $((i + 1)) ok"
    check "$d: next session's peer got data" has "sc.$ph.ok" "pong"
    i=$((i + 2))
  done
done
specs=""
for ph in 2 3 5 6 8; do specs="$specs,e$ph,-"; done
exitconf cli cli ec "per=${specs#,}"
SSNACCEPT=10 sserver srv-ec -tls1_3
"$DRV" client --conf "$W/cli.conf" --port "$PORT" --count 10 >"$W/cl.out" 2>&1 || true
sserver_wait
i=1
for ph in 2 3 5 6 8; do
  check "client, error in phase $ph: refused" has cl.out "session $i refused"
  check "client, error in phase $ph: logged" has cl.out "phase $(name $ph): .*forced error"
  check "client, error in phase $ph: next session served" has cl.out "session $((i + 1)) ok"
  i=$((i + 2))
done
finish
