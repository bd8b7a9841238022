#!/bin/bash
# e2e: a CRL refresh revokes a partner in the middle of a running receiver:
# alice is revoked (rr) and refused with alert 44 while bob keeps sending; a
# sender enrolled at another CA is refused with alert 48 (unknown CA).
. "$(dirname "$0")/lib.sh"
cx_ca_start
cx_ca_start other 19081
for w in receiver alice bob; do cx_client $w; done
cx_client mallory other
cx_exit_conf receiver ca "refresh = 1s"
cx_exit_conf alice
cx_exit_conf bob
cx_exit_conf mallory other
cx_recv_start
cx_send alice "$W/a1.bin" || cx_fail "alice before revocation"
cx_send bob "$W/b1.bin" || cx_fail "bob before revocation"
echo "ok: alice and bob send"
openssl x509 -in "$W/alice-private/identity.pem" -out "$W/alice.crt"
"$PKIE" cmp -cmd rr -server "127.0.0.1:${CA_PORT[ca]}/pkix/" -ref alice \
  -secret "file:$W/alice.secret" -oldcert "$W/alice.crt" -trusted "$W/ca-anchor.pem" \
  -revreason 1 >"$W/rr.out" 2>&1 || cx_fail "rr: $(cat "$W/rr.out")"
cx_wait "$W/recv.log" "CRL updated: 1 revoked" 10 "$RECV_PID" || cx_fail "receiver did not refresh its CRL"
if cx_send alice "$W/a2.bin"; then cx_fail "revoked alice accepted"; fi
cx_wait "$W/recv.log" "failed (alert 44)" 5 "$RECV_PID" || cx_fail "receiver did not refuse with 44"
[ ! -e "$W/in/a2.bin" ] || cx_fail "a2.bin written"
cx_send bob "$W/b2.bin" || cx_fail "bob after alice's revocation"
cmp -s "$W/b2.bin" "$W/in/b2.bin" || cx_fail "b2.bin differs"
echo "ok: alice refused with alert 44 after the CRL refresh, bob still sends"
if cx_send mallory "$W/m1.bin"; then cx_fail "sender from another CA accepted"; fi
cx_wait "$W/recv.log" "failed (alert 48)" 5 "$RECV_PID" || cx_fail "no alert 48 for another CA"
[ ! -e "$W/in/m1.bin" ] || cx_fail "m1.bin written"
echo "ok: sender certified by another CA refused with alert 48"
kill -0 "$RECV_PID" || cx_fail "receiver died"
echo "cmpexit e2e revoke: all passed"
