#!/bin/bash
# e2e: pkie recv with a hostile exit (pki.exit.isolation = process, the
# default). A SIGSEGV in CheckCertificate costs that one session: the sender
# is refused, the log names the exit, the phase, the session and the signal,
# and the receiver (one SSL task) serves the next sender. Then an exit that
# sleeps in CryptData with a 60 s deadline: SIGTERM ends the receiver within
# seconds, with exit status 0.
. "$(dirname "$0")/lib.sh"
# In a sanitizer build the helper must die of its signal, as in a normal build.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:handle_abort=0:detect_leaks=0"
export ASAN_OPTIONS
xfer_setup
ADV=$BUILD/tests/exits/exit_adversarial.so
TRIG=$W/trigger
recv_exit() { # MODE TIMEOUT
  sed -i -e "s|^pki.exit.libpath = .*|pki.exit.libpath = $ADV|" \
    -e "s|^pki.exit.conf = .*|pki.exit.conf = $1 $TRIG|" -e "s|^tasks = .*|tasks = 1|" \
    -e "/^pki.exit.timeout/d" "$W/recv.conf"
  echo "pki.exit.timeout = $2" >>"$W/recv.conf"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

recv_exit segv 10
xfer_recv_start
mkfile a 4096
mkfile b 4096
mkfile c 4096
send "$W/src/a" >/dev/null 2>"$W/a.err" || xfer_fail "first send: $(cat "$W/a.err")"
echo 5 >"$TRIG"
if send --retries 0 "$W/src/b" >/dev/null 2>"$W/b.err"; then xfer_fail "send through a crashed exit"; fi
[ ! -e "$TRIG" ] || xfer_fail "the exit was not called"
grep -q "exit exit_adversarial.so phase CheckCertificate: task 1 session [0-9]*: channel closed: helper pid [0-9]* killed by signal 11 (SIGSEGV)" \
  "$RECV_LOG" || xfer_fail "no log line with the cause: $(grep exit "$RECV_LOG" | tail -3)"
kill -0 "$RECV_PID" || xfer_fail "pkie recv died with its exit"
t0=$(now_ms)
send "$W/src/c" >/dev/null 2>"$W/c.err" || xfer_fail "send after the crash: $(cat "$W/c.err")"
echo "ok: SIGSEGV in CheckCertificate cost one session; next sender served in $(($(now_ms) - t0)) ms"
cmp "$W/src/c" "$W/in/c" || xfer_fail "c differs"
[ ! -e "$W/in/b" ] || xfer_fail "b arrived"
xfer_recv_stop
echo "ok: exit status 0 after SIGTERM"

recv_exit sleep 60
xfer_recv_start
echo 6 >"$TRIG"
mkfile d 4096
send --retries 0 "$W/src/d" >/dev/null 2>"$W/d.err" &
SEND_PID=$!
i=0
while [ -e "$TRIG" ]; do
  i=$((i + 1))
  [ $i -lt 300 ] || xfer_fail "the exit was not called"
  sleep 0.1
done
t0=$(now_ms)
xfer_recv_stop
dt=$(($(now_ms) - t0))
[ "$dt" -lt 5000 ] || xfer_fail "SIGTERM took $dt ms with an exit call hanging"
wait "$SEND_PID" && xfer_fail "send through a hanging exit succeeded"
echo "ok: SIGTERM with an exit sleeping in CryptData (60 s deadline): stopped in $dt ms, status 0"
