#!/bin/bash
# The watchdog keep-alives prove liveness: pkie recv sends WATCHDOG=1 from its
# acceptor loop only while every SSL task's loop turns too. With one task
# stuck in an exit call that never returns (the test exit, hang in
# CheckCertificate, isolation none), the keep-alives stop, so that systemd's
# WatchdogSec= would restart the monitor; a thread pinging blindly would not.
. "$(dirname "$0")/lib.sh"
xfer_setup
TESTEXIT=$BUILD/tests/xfer_testexit.so
sed -i -e "s|^pki.exit.libpath = .*|pki.exit.libpath = $TESTEXIT|" \
  -e "s|^pki.exit.conf = .*|pki.exit.conf = log=$W/exit.log hang=5|" \
  -e "s|^tasks = .*|tasks = 1|" "$W/recv.conf"
echo "pki.exit.isolation = none" >>"$W/recv.conf"
N=$W/notify.log
LISTENER_PID=
SPID=
cleanup_notify() {
  if [ -n "$LISTENER_PID" ]; then kill "$LISTENER_PID" 2>/dev/null || true; fi
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; fi
  cleanup
}
trap cleanup_notify EXIT
python3 "$(dirname "$0")/notify_listener.py" "$W/notify.sock" "$N" "$PORT" &
LISTENER_PID=$!
count() { _c=$(grep -c -- "$1" "$2" 2>/dev/null); echo "${_c:-0}"; }
wait_count() { # wait_count FILE PATTERN N
  _i=0
  while [ "$(count "$2" "$1")" -lt "$3" ]; do
    _i=$((_i + 1))
    [ $_i -lt 600 ] || xfer_fail "no $3 x '$2' in $1 within 60 s"
    sleep 0.1
  done
}
wait_count "$N" "^LISTENING" 1
RECV_LOG=$W/recv1.log
NOTIFY_SOCKET=$W/notify.sock WATCHDOG_USEC=1000000 "$PKIE" recv --conf "$W/recv.conf" \
  2>"$RECV_LOG" &
RECV_PID=$!
wait_count "$N" " READY=1" 1
w0=$(count "WATCHDOG=1" "$N")
wait_count "$N" "WATCHDOG=1" $((w0 + 3))
echo "ok: keep-alives while the task turns"
mkfile part 1000
"$PKIE" send --conf "$W/send.conf" --to hq "$W/src/part" --retries 0 >/dev/null 2>&1 &
SPID=$!
wait_count "$W/exit.log" "^CheckCertificate" 1
# the monitor stops its keep-alives at most WATCHDOG_USEC (1 s) after the
# task's last turn; then none may come for a whole 3 s window
sleep 1.5
w1=$(count "WATCHDOG=1" "$N")
sleep 3
w2=$(count "WATCHDOG=1" "$N")
[ "$w2" -eq "$w1" ] || xfer_fail "$((w2 - w1)) keep-alive(s) while the task is stuck"
kill -0 "$RECV_PID" || xfer_fail "pkie recv exited"
echo "ok: no keep-alive while a task is stuck in an exit call"
kill -9 "$RECV_PID"
wait "$RECV_PID" 2>/dev/null || true
RECV_PID=
echo "PASS"
