#!/bin/sh
# Interop: the sample exit of examples/exit, built standalone with its
# Makefile against the header (as an exit writer would), serves its chain and
# signs from PEM files, and pins the peer's CA.
. "$(dirname "$0")/lib.sh"
cp "$S/examples/exit/cftpkie.c" "$S/examples/exit/Makefile" "$W/"
if ! make -s -C "$W" PKIE_CFLAGS="-I$S/include" >"$W/make.out" 2>&1; then
  cat "$W/make.out"
  bad "sample exit builds with its Makefile"
  finish
fi
ok "sample exit builds with its Makefile"
for k in ec rsa; do
  conf ex pki.type=exit "pki.exit.libpath=$W/sample.so" \
    "pki.exit.conf=chain=$P/srv-$k.chain.pem key=$P/srv-$k.key ca=$P/inter.crt"
  server ex 2
  sclient tls1_3 cli-ec
  cp "$W/sc.out" "$W/sc1.out"
  sclient tls1_2 cli-other
  server_wait || true
  check "sample exit ($k): a peer below the pinned CA is served" has sc1.out "pong TLSv1.3"
  check "sample exit ($k): a peer of another CA is refused (unknown_ca)" has sc.out "alert number 48"
done
finish
