#!/bin/bash
# e2e: the CA is stopped when the renewal falls due: the renewal fails and is
# retried with backoff (logged), the current certificate keeps serving; when the
# CA comes back the renewal succeeds and the new certificate serves.
. "$(dirname "$0")/lib.sh"
cx_ca_start
cx_client receiver ca --profile short
cx_client sender
cx_exit_conf receiver ca "renew_before = 2d" "retry_min = 1s" "retry_max = 8s" "refresh = 1h"
cx_exit_conf sender
cx_recv_start
cx_send sender "$W/one.bin" || cx_fail "first transfer (the sender enrolls)"
s1=$(sed -n 's/.*enrolled (IR, MAC): certificate serial \([0-9a-f]*\) .*/\1/p' "$W/recv.log")
cx_ca_stop
grep -q "renewed (KUR)" "$W/recv.log" && cx_fail "renewed before the CA was stopped (machine too slow)"
echo "ok: CA stopped"
cx_wait "$W/recv.log" "renewal failed" 20 "$RECV_PID" || cx_fail "no failed renewal logged"
grep "renewal failed" "$W/recv.log" | head -n 1
grep -q "keeps serving" "$W/recv.log" || cx_fail "no 'keeps serving' in the log"
# the old certificate keeps serving
cx_send sender "$W/two.bin" || cx_fail "transfer while the CA is down"
cmp -s "$W/two.bin" "$W/in/two.bin" || cx_fail "two.bin differs"
[ "$(cx_serial receiver)" = "$s1" ] || cx_fail "identity changed while the CA was down"
# at least two attempts with growing delays
cx_wait "$W/recv.log" "retry 2 in" 15 "$RECV_PID" || cx_fail "no second retry"
echo "ok: transfer with the current certificate while the CA is down; retries backed off"
cx_ca_start
cx_wait "$W/recv.log" "renewed (KUR)" 20 "$RECV_PID" || cx_fail "no renewal after the CA came back"
s2=$(cx_serial receiver)
[ "$s1" != "$s2" ] || cx_fail "identity not replaced"
cx_send sender "$W/three.bin" || cx_fail "transfer after renewal"
cmp -s "$W/three.bin" "$W/in/three.bin" || cx_fail "three.bin differs"
echo "ok: renewed when the CA came back ($s1 -> $s2)"
echo "cmpexit e2e ca_down: all passed"
