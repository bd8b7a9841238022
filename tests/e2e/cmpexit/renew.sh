#!/bin/bash
# e2e: renewal forced by a short validity (CA profile "short": one day) and a
# renewal window wider than it: the running receiver renews by KUR in the
# background, writes the new identity atomically (0700 directory, 0600 file)
# and serves it from the next session; transfers work before and after.
. "$(dirname "$0")/lib.sh"
# the exit exports cftpkie and nothing else
exported=$(nm -D --defined-only "$EXIT_SO" | awk '{print $3}' | sort -u | tr '\n' ' ')
[ "$exported" = "cftpkie " ] || cx_fail "cmp.so exports: $exported"
cx_ca_start
cx_client receiver ca --profile short
cx_client sender
cx_exit_conf receiver ca "renew_before = 2d" "retry_min = 1s" "retry_max = 2s" "refresh = 1h"
cx_exit_conf sender
cx_recv_start
grep -q "enrolled (IR, MAC)" "$W/recv.log" || cx_fail "receiver did not enroll"
# the enrolled serial from the log (the file may already hold a renewed one)
s1=$(sed -n 's/.*enrolled (IR, MAC): certificate serial \([0-9a-f]*\) .*/\1/p' "$W/recv.log")
[ -n "$s1" ] || cx_fail "no serial in the enrollment line"
# both dates from one read: the background renewal may replace the file
dates=$(openssl x509 -noout -startdate -enddate -in "$W/receiver-private/identity.pem")
nb=$(echo "$dates" | sed -n 's/^notBefore=//p')
na=$(echo "$dates" | sed -n 's/^notAfter=//p')
[ $(($(date -d "$na" +%s) - $(date -d "$nb" +%s))) -le 86400 ] || cx_fail "validity longer than a day"
[ "$(stat -c %a "$W/receiver-private")" = 700 ] || cx_fail "private dir not 0700"
[ "$(stat -c %a "$W/receiver-private/identity.pem")" = 600 ] || cx_fail "identity not 0600"
cx_send sender "$W/one.bin" || cx_fail "first transfer"
cmp -s "$W/one.bin" "$W/in/one.bin" || cx_fail "one.bin differs"
echo "ok: enrolled with a one-day certificate, first transfer done"
# the renewal is due (window 2d > validity); the first attempt waits retry_max
cx_wait "$W/recv.log" "renewed (KUR)" 15 "$RECV_PID" || cx_fail "no background renewal"
s2=$(cx_serial receiver)
[ "$s1" != "$s2" ] || cx_fail "identity.pem not replaced"
grep -q "renewed (KUR): certificate serial $s2" "$W/recv.log" ||
  grep -q "renewed (KUR)" "$W/recv.log" || cx_fail "log does not name the renewal"
[ "$(stat -c %a "$W/receiver-private/identity.pem")" = 600 ] || cx_fail "renewed identity not 0600"
[ -z "$(find "$W/receiver-private" -name '.tmp-*')" ] || cx_fail "temporary file left"
# the next session uses the new certificate: the sender sees it (s_client-free
# check: the receiver's identity and the chain the exit serves are the same)
cx_send sender "$W/two.bin" || cx_fail "transfer after renewal"
cmp -s "$W/two.bin" "$W/in/two.bin" || cx_fail "two.bin differs"
# the CA issued it by KUR for the receiver
# (pkie ca list prints serials without leading zeros)
"$PKIE" ca list --dir "$W/ca" | sed 's/^0*//' | grep -qi "^$(echo "$s2" | sed 's/^0*//') " ||
  cx_fail "CA does not list $s2"
echo "ok: renewed in the background ($s1 -> $s2), transfer after renewal done"
echo "cmpexit e2e renew: all passed"
