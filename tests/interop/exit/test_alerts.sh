#!/bin/sh
# Interop: CheckCertificate refusals by the exit reach the peer with the alert
# code the exit chose (every code of the allowed list), server and client,
# TLS 1.2 and 1.3; a code outside the list is an invalid answer (internal_error).
. "$(dirname "$0")/lib.sh"
HA=$TEXITS/exit_handles_all.so
for code in 42 43 44 45 46 48 51 80; do
  conf srv pki.type=exit "pki.exit.libpath=$HA" \
    "pki.exit.conf=chain=$P/srv-ec.chain.pem key=$P/srv-ec.key ca=$P/root.crt refuse=$code"
  for v in tls1_2 tls1_3; do
    server srv 1
    sclient $v cli-ec
    server_wait || true
    check "server refuses with alert $code ($v)" has sc.out "alert number $code"
    check "server refusal $code logged ($v)" has srv.out "session 1 refused.*alert $code"
  done
  conf cli pki.type=exit "pki.exit.libpath=$HA" \
    "pki.exit.conf=chain=$P/cli-ec.chain.pem key=$P/cli-ec.key ca=$P/root.crt refuse=$code"
  sserver srv-ec -tls1_3
  "$DRV" client --conf "$W/cli.conf" --port "$PORT" >"$W/cl.out" 2>&1 || true
  sserver_wait
  check "client refuses with alert $code" has cl.out "session 1 refused.*alert $code"
done
finish
