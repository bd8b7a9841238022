#!/bin/sh
# Interop: pki.type = internal (every phase by the internal PKI base), server
# against openssl s_client and client against openssl s_server, TLS 1.2 and
# 1.3, EC / RSA / Ed25519; refusals with their alerts.
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2046
conf int pki.type=internal $(internal_keys)

for k in ec rsa ed; do
  server int 2 --cert-id "srv-$k" --ca-id root
  for v in tls1_2 tls1_3; do
    sclient $v "cli-$k" -cert_chain "$P/inter.crt"
    mv "$W/sc.out" "$W/sc.$v"
  done
  server_wait || true
  for v in tls1_2 tls1_3; do
    check "internal server $k $v: handshake + data" has "sc.$v" "pong TLSv1.${v#tls1_}"
  done
  check "internal server $k: peer seen" has srv.out "session 2 ok .*CN=cli $k"
  for v in tls1_2 tls1_3; do
    sserver "srv-$k" -$v
    "$DRV" client --conf "$W/int.conf" --port "$PORT" --cert-id "cli-$k" --ca-id root \
      >"$W/cl.out" 2>&1 || true
    sserver_wait
    check "internal client $k $v: handshake + data" has cl.out "session 1 ok .*reply=olleh"
  done
done

# TLS 1.2 with RSA PKCS#1 v1.5 signatures
server int 1 --cert-id srv-rsa --ca-id root
sclient tls1_2 cli-rsa -sigalgs RSA+SHA256
server_wait || true
check "internal server rsa-pkcs1 tls1_2" has sc.out "pong TLSv1.2"

# refusals: unknown CA (48), revoked (44), expired (45)
server int 6 --cert-id srv-ec --ca-id root
for case in "cli-other 48" "cli-rev 44" "cli-exp 45"; do
  set -- $case
  for v in tls1_2 tls1_3; do
    sclient $v "$1" -cert_chain "$P/inter.crt"
    mv "$W/sc.out" "$W/sc.$1.$v"
  done
done
server_wait || true
for case in "cli-other 48" "cli-rev 44" "cli-exp 45"; do
  set -- $case
  for v in tls1_2 tls1_3; do
    check "internal server refuses $1 $v with alert $2" has "sc.$1.$v" "alert number $2"
    check "internal server refuses $1 $v: no data" hasnt "sc.$1.$v" "pong"
  done
done
check "internal server: the six refusals logged" test "$(grep -c 'refused' "$W/srv.out")" -ge 6
# the client refuses a server of another PKI
sserver cli-other -tls1_3
"$DRV" client --conf "$W/int.conf" --port "$PORT" --cert-id cli-ec --ca-id root \
  >"$W/cl.out" 2>&1 || true
sserver_wait
check "internal client refuses an unknown CA" has cl.out "session 1 refused"
check "internal client sends unknown_ca" has ss.out "alert unknown ca"
# DN filter: only CN=cli rsa accepted
server int 2 --cert-id srv-ec --ca-id root --dn "CN=cli rsa,O=*"
sclient tls1_3 cli-ec
cp "$W/sc.out" "$W/sc.dn"
sclient tls1_3 cli-rsa
server_wait || true
check "DN filter refuses cli ec, serves cli rsa" has srv.out "session 2 ok .*CN=cli rsa"
check "DN filter: session 1 refused" has srv.out "session 1 refused"
# a subject matching no DN filter is refused with access_denied (49), which
# libssl never sends for a verification failure (src/exit/session.c)
check "DN filter: refused with access_denied" has srv.out "alert 49"
check "DN filter: the client reads access_denied" has sc.dn "alert number 49\|access denied"
finish
