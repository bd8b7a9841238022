#!/bin/sh
# ABI forward compatibility: an exit built against the version 1 header kept
# in tests/abi/v1 (exit_handles_all.c, handling every phase) runs on the
# current host as server (openssl s_client) and client (openssl s_server),
# TLS 1.2 and 1.3, CryptData answered by a signature and by a PKCS#8 key.
. "$(dirname "$0")/lib.sh"
A1=$TEXITS/exit_abi1.so
GLOBAL=68616e646c65732d616c6c20 # "handles-all " in the global area
check "the ABI 1 header is kept" test -s "$S/tests/abi/v1/cftpkie.h"
check "the ABI 1 header is version 1" grep -q "define CFTPKIE_ABI_VERSION 1u" \
  "$S/tests/abi/v1/cftpkie.h"
for sign in sig pkcs8; do
  for r in srv cli; do
    # shellcheck disable=SC2046
    conf "$r" pki.type=exit "pki.exit.libpath=$A1" $(internal_keys) \
      "pki.exit.conf=chain=$P/$r-ec.chain.pem key=$P/$r-ec.key ca=$P/root.crt sign=$sign"
  done
  server srv 2
  for v in tls1_2 tls1_3; do
    sclient $v cli-ec -cert_chain "$P/inter.crt"
    mv "$W/sc.out" "$W/sc.$v"
  done
  server_wait || true
  for v in tls1_2 tls1_3; do
    check "ABI 1 exit, server $sign $v: data" has "sc.$v" "pong TLSv1.${v#tls1_}"
  done
  check "ABI 1 exit, server $sign: HandshakeDone global area" has srv.out \
    "session 2 ok.*global=$GLOBAL"
  for v in tls1_2 tls1_3; do
    sserver srv-ec -$v
    "$DRV" client --conf "$W/cli.conf" --port "$PORT" >"$W/cl.out" 2>&1 || true
    sserver_wait
    check "ABI 1 exit, client $sign $v: data" has cl.out \
      "session 1 ok version=TLSv1.${v#tls1_}.*global=$GLOBAL.*reply=olleh"
  done
done
finish
