#!/bin/bash
# e2e: kill -9 of the receiver in the middle of a 256 MiB transfer: no file
# appears; after a restart the sender (still retrying) resumes from the durable
# offset and the result is identical. Then kill -9 of a sender: a rerun resumes
# with the transfer id kept in its state directory. SIGTERM in the middle of a
# transfer: clean stop, partial kept, resume after the restart.
. "$(dirname "$0")/lib.sh"
XFER_CHECKPOINT=8388608
xfer_setup
xfer_recv_start
SIZE=268435456
mkfile big $SIZE

wait_partial() { # NAME MIN_BYTES
  i=0
  while [ "$(partial_size "$1")" -lt "$2" ]; do
    i=$((i + 1))
    [ $i -lt 2000 ] || xfer_fail "partial of $1 never reached $2 bytes"
    sleep 0.01
  done
}

send "$W/src/big" --json --retries 30 >"$W/big.json" 2>"$W/big.err" &  # waited for
spid=$!
wait_partial big 33554432
kill -9 "$RECV_PID"
wait "$RECV_PID" 2>/dev/null || true
RECV_PID=
[ -z "$(visible)" ] || xfer_fail "a file appeared after kill -9: $(visible)"
echo "ok: receiver killed at $(partial_size big) bytes, no file in the destination"
xfer_recv_start
wait $spid || xfer_fail "sender failed after the restart: $(cat "$W/big.err")"
cmp "$W/src/big" "$W/in/big" || xfer_fail "big differs after resume"
off=$(sed -n 's/.*"resume_offset":\([0-9]*\).*/\1/p' "$W/big.json")
sent=$(sed -n 's/.*"bytes_sent":\([0-9]*\).*/\1/p' "$W/big.json")
[ "${off:-0}" -gt 0 ] || xfer_fail "no resume: $(cat "$W/big.json")"
[ $((off + sent)) -eq $SIZE ] || xfer_fail "resumed at $off but sent $sent"
grep -q "big: resuming at offset $off" "$RECV_LOG" || xfer_fail "receiver did not log the resume"
echo "ok: sender resumed at $off (sent $sent of $SIZE), result identical"
[ -z "$(ls -A "$W/in" | grep '\.part$\|\.state$')" ] || xfer_fail "partial files left"
[ -z "$(ls -A "$W/state/send" 2>/dev/null)" ] || xfer_fail "sender state not cleared"

# kill -9 of the sender: the rerun resumes with the same transfer id
mkfile big2 $((SIZE / 2))
"$PKIE" send --conf "$W/send.conf" --to hq "$W/src/big2" --retries 0 >/dev/null 2>&1 &
spid=$!
wait_partial big2 33554432
kill -9 $spid
wait $spid 2>/dev/null || true
[ -n "$(ls -A "$W/state/send")" ] || xfer_fail "sender kept no transfer id"
# the receiver notices the broken connection and checkpoints
sleep 1
send "$W/src/big2" --json >"$W/big2.json" 2>"$W/big2.err" || xfer_fail "rerun failed: $(cat "$W/big2.err")"
off=$(sed -n 's/.*"resume_offset":\([0-9]*\).*/\1/p' "$W/big2.json")
[ "${off:-0}" -gt 0 ] || xfer_fail "rerun did not resume: $(cat "$W/big2.json")"
cmp "$W/src/big2" "$W/in/big2" || xfer_fail "big2 differs"
echo "ok: rerun after kill -9 of the sender resumed at $off"

# SIGTERM in the middle of a transfer: the monitor stops within seconds with
# status 0, the session is cut at a checkpoint, the sender resumes after the
# restart
mkfile big3 $((SIZE / 2))
send "$W/src/big3" --json --retries 30 >"$W/big3.json" 2>"$W/big3.err" &  # waited for
spid=$!
wait_partial big3 16777216
t0=$(date +%s)
xfer_recv_stop
[ $(($(date +%s) - t0)) -le 5 ] || xfer_fail "SIGTERM took more than 5 s"
[ -z "$(visible | grep big3)" ] || xfer_fail "big3 appeared although cut"
grep -q "big3 interrupted: XFER_SHUTDOWN" "$RECV_LOG" || xfer_fail "no checkpointed cut in the log"
xfer_recv_start
wait $spid || xfer_fail "sender failed after SIGTERM + restart: $(cat "$W/big3.err")"
cmp "$W/src/big3" "$W/in/big3" || xfer_fail "big3 differs"
off=$(sed -n 's/.*"resume_offset":\([0-9]*\).*/\1/p' "$W/big3.json")
[ "${off:-0}" -gt 0 ] || xfer_fail "no resume after SIGTERM: $(cat "$W/big3.json")"
echo "ok: SIGTERM cut the session at a checkpoint; the sender resumed at $off"
xfer_recv_stop
grep -q '"file":"big".*"result":"ok"' "$W/audit.log" || xfer_fail "audit lacks big"
echo "transfer e2e resume: all passed"
