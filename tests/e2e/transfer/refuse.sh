#!/bin/bash
# e2e: a sender whose certificate comes from another CA is refused with alert 48
# and nothing is written; hostile names and malformed frames get their errors
# while a parallel transfer completes; the monitor keeps serving.
. "$(dirname "$0")/lib.sh"
RAW=$BUILD/tests/xfer_rawclient
[ -x "$RAW" ] || xfer_fail "missing $RAW"
xfer_setup
xfer_recv_start

mkfile ok1 1000
if "$PKIE" send --conf "$W/rogue.conf" --to hq "$W/src/ok1" --retries 0 >"$W/rogue.out" 2>&1; then
  xfer_fail "rogue sender accepted"
fi
# In TLS 1.3 the verdict on the client certificate arrives after the client's
# Finished: the sender reads the alert unless a reset wins the race.
grep -q "alert 48" "$W/rogue.out" || grep -q "XFER_TLS" "$W/rogue.out" ||
  xfer_fail "sender not told of the TLS failure: $(cat "$W/rogue.out")"
grep -q "alert 48" "$W/rogue.out" || echo "note: sender saw: $(cat "$W/rogue.out")"
grep -q "handshake with .* failed (alert 48)" "$RECV_LOG" || xfer_fail "receiver did not log alert 48"
[ -z "$(visible)" ] || xfer_fail "something written for the rogue sender: $(visible)"
# one audit line for the refused session: its certificate, the alert, the reason
[ "$(grep -c '"stage":"handshake"' "$W/audit.log")" -eq 1 ] || xfer_fail "audit: $(cat "$W/audit.log")"
grep -q '"peer_subject":"CN=sender1,O=pkie e2e".*"peer_issuer":"CN=Other Root,O=elsewhere".*"alert":48,"alert_direction":"sent".*"result":"refused"' "$W/audit.log" ||
  xfer_fail "audit line of the refused handshake: $(cat "$W/audit.log")"
echo "ok: other CA refused with alert 48, nothing written"

# a parallel 128 MiB transfer while the hostile client runs
mkfile par 134217728
send "$W/src/par" --json >"$W/par.json" 2>"$W/par.err" &
spid=$!
# start the hostile sessions once the parallel transfer is under way
i=0
while [ -z "$(ls -A "$W/in" | grep '^\.par\..*\.part$')" ]; do
  i=$((i + 1))
  [ $i -lt 1000 ] || xfer_fail "parallel transfer did not start"
  sleep 0.01
done
"$RAW" "$W/send.conf" "$PORT" names type length filelength order hello truncated >"$W/raw.out" 2>&1 ||
  { cat "$W/raw.out" >&2; xfer_fail "hostile client checks"; }
cat "$W/raw.out"
wait $spid || xfer_fail "parallel transfer failed: $(cat "$W/par.err")"
cmp "$W/src/par" "$W/in/par" || xfer_fail "parallel transfer differs"
echo "ok: parallel transfer completed during the hostile sessions"
[ "$(visible | sort | tr '\n' ' ')" = "par raw-ok.txt " ] || xfer_fail "unexpected files: $(visible)"
ls -A "$W/in" | grep -q '^\.\.\|/' && xfer_fail "escaped name"
[ -z "$(find "$W" -name passwd)" ] || xfer_fail "path traversal"

# still serving after all that
mkfile after 4096
send "$W/src/after" >/dev/null || xfer_fail "monitor stopped serving"
cmp "$W/src/after" "$W/in/after" || xfer_fail "after differs"
xfer_recv_stop
n=$(grep -c '"result":"refused".*XFER_NAME' "$W/audit.log")
[ "$n" -eq 10 ] || xfer_fail "audit: $n XFER_NAME refusals, expected 10"
# names audited losslessly: NUL as \u0000 (not cut), a byte that is not UTF-8 as \udcXX
grep -q '"file":"a\\u0000b"' "$W/audit.log" || xfer_fail "audit: NUL name not escaped: $(grep -a '"file":"a' "$W/audit.log")"
grep -q '"file":"x\\udce9y"' "$W/audit.log" || xfer_fail "audit: Latin-1 byte not escaped"
grep -q '"file":"\\udcff\\udcfe"' "$W/audit.log" || xfer_fail "audit: bytes ff fe not escaped"
echo "transfer e2e refuse: all passed"
