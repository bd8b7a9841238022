#!/bin/bash
# e2e: a source file rewritten in place (same size) while pkie send reads it
# is never confirmed: the sender fails it with XFER_CHANGED, the receiver drops
# the partial file and audits the failure. The race is won every time: the
# receiver is held with SIGSTOP once part of the file arrived (the sender then
# blocks on a full socket with most of the file unread), the file is rewritten,
# and the receiver goes on with SIGCONT.
. "$(dirname "$0")/lib.sh"
xfer_setup
xfer_recv_start
SIZE=134217728
mkfile big $SIZE


send "$W/src/big" --json --retries 0 >"$W/big.json" 2>"$W/big.err" &  # waited for
spid=$!
i=0
while [ "$(partial_size big)" -lt 8388608 ]; do
  i=$((i + 1))
  [ $i -lt 3000 ] || xfer_fail "partial of big never reached 8 MiB"
  kill -0 $spid 2>/dev/null || xfer_fail "sender ended early: $(cat "$W/big.err")"
  sleep 0.01
done
kill -STOP "$RECV_PID"
before=$(partial_size big)
# same size, other content, written in place (same inode)
openssl enc -aes-128-ctr -pass pass:other -nosalt -pbkdf2 -in /dev/zero 2>/dev/null |
  head -c $SIZE | dd of="$W/src/big" conv=notrunc bs=1M status=none
kill -CONT "$RECV_PID"
[ "$before" -lt $((SIZE - 16777216)) ] || xfer_fail "the receiver had $before bytes: no race left"
st=0
wait $spid || st=$?
[ $st -eq 2 ] || xfer_fail "sender exit status $st, expected 2: $(cat "$W/big.json" "$W/big.err")"
grep -q '"result":"failed"' "$W/big.json" || xfer_fail "not failed: $(cat "$W/big.json")"
grep -q '"error":"XFER_CHANGED: big was modified' "$W/big.json" ||
  xfer_fail "no XFER_CHANGED: $(cat "$W/big.json")"
[ -z "$(visible | grep big)" ] || xfer_fail "big was delivered"
i=0
while ! grep -q '"file":"big".*"result":"failed".*XFER_CHANGED' "$W/audit.log" 2>/dev/null; do
  i=$((i + 1))
  [ $i -lt 500 ] || xfer_fail "no audit line for the changed file"
  sleep 0.02
done
[ -z "$(ls -A "$W/in" | grep '^\.big\.')" ] || xfer_fail "partial files left: $(ls -A "$W/in")"
echo "ok: rewritten in place at $before of $SIZE bytes: XFER_CHANGED, nothing confirmed, partial dropped"

# the receiver goes on: an unchanged file is confirmed
# (and --log-level trace shows the session steps and every frame; debug the
# steps only; the receiver runs at debug)
mkfile small 100000
send "$W/src/small" --json --log-level trace >"$W/small.json" 2>"$W/small.err" ||
  xfer_fail "small: $(cat "$W/small.err")"
cmp "$W/src/small" "$W/in/small" || xfer_fail "small differs"
for want in "handshake with 127.0.0.1:$PORT done" "receiver is partner hq" \
  "frame] out FILE (2)" "frame] in HELLO (1)" "frame] in RESUME (3)" "frame] out DATA (4) len 100000" \
  "frame] out END (5)" "frame] in DONE (6)" "small: FILE 100000 bytes, RESUME at 0" "small: DONE (confirmed)"; do
  grep -qF "$want" "$W/small.err" || xfer_fail "trace lacks '$want': $(cat "$W/small.err")"
done
mkfile small2 1000
send "$W/src/small2" --log-level debug >/dev/null 2>"$W/small2.err" || xfer_fail "small2"
grep -q "small2: DONE (confirmed)" "$W/small2.err" || xfer_fail "debug lacks the steps"
grep -q "frame\]" "$W/small2.err" && xfer_fail "frames logged at debug"
grep -q "small: FILE 100000 bytes accepted, RESUME at 0" "$RECV_LOG" || xfer_fail "receiver debug lacks FILE"
grep -q "small: END after 100000 bytes" "$RECV_LOG" || xfer_fail "receiver debug lacks END"
echo "ok: trace and debug logs show the session steps (and frames at trace)"
xfer_recv_stop
echo "transfer e2e changed: all passed"
