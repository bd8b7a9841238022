#!/bin/bash
# SIGHUP with the PKI exit (the trace exit, isolation process): a reload
# that changes pki.exit.conf (the trace file) probes the exit again; the next
# handshake runs on a new SSL task (StartTask with a task id of generation 2)
# that sees the new conf, the old SSL tasks see no new handshake, and every
# StartTask gets its EndTask by the stop. A reload that changes
# pki.exit.libpath is refused (it takes a restart) and serving goes on.
. "$(dirname "$0")/lib.sh"
XFER_TASKS=2 xfer_setup
xfer_recv_start
wait_log() { # wait_log PATTERN: a line of the receiver's log
  _i=0
  while ! grep -q -- "$1" "$RECV_LOG"; do
    _i=$((_i + 1))
    [ $_i -lt 600 ] || xfer_fail "no '$1' in the log within 60 s"
    kill -0 "$RECV_PID" 2>/dev/null || xfer_fail "pkie recv exited"
    sleep 0.1
  done
}
mkfile a 300000
send "$W/src/a" >/dev/null 2>"$W/a.err" || xfer_fail "send a: $(cat "$W/a.err")"
grep -q "^StartHandshake task=[12] " "$W/trace.log" || xfer_fail "no handshake on a task of generation 1"
hs1=$(grep -c "^StartHandshake" "$W/trace.log")

sed -i "s|^pki.exit.conf = .*|pki.exit.conf = $W/trace2.log|" "$W/recv.conf"
kill -HUP "$RECV_PID"
wait_log "reloaded: generation 2"
# the probe of the reload: StartTask and EndTask with task id 0
grep -q "^StartTask task=0 " "$W/trace2.log" || xfer_fail "the reload did not probe the exit"
mkfile b 300000
send "$W/src/b" >/dev/null 2>"$W/b.err" || xfer_fail "send b: $(cat "$W/b.err")"
cmp "$W/src/b" "$W/in/b" || xfer_fail "b differs"
grep -q "^StartTask task=[34] " "$W/trace2.log" || xfer_fail "no StartTask of generation 2 (task 3 or 4)"
grep -q "^StartHandshake task=[34] " "$W/trace2.log" || xfer_fail "the handshake after the reload is not on generation 2"
[ "$(grep -c "^StartHandshake" "$W/trace.log")" -eq "$hs1" ] ||
  xfer_fail "a handshake after the reload went to a generation 1 task"
echo "ok: after the reload new handshakes run on SSL tasks started with the new pki.exit.conf"

sed -i "s|^pki.exit.libpath = .*|pki.exit.libpath = $BUILD/tests/xfer_testexit.so|" "$W/recv.conf"
kill -HUP "$RECV_PID"
wait_log "reload refused, generation 2 keeps serving: .*pki.exit.libpath changed: it takes a restart"
mkfile c 1000
send "$W/src/c" >/dev/null 2>"$W/c.err" || xfer_fail "send c after a refused reload: $(cat "$W/c.err")"
echo "ok: a changed pki.exit.libpath is refused, serving goes on"

xfer_recv_stop
for f in trace trace2; do
  st=$(grep -c "^StartTask" "$W/$f.log")
  et=$(grep -c "^EndTask" "$W/$f.log")
  [ "$st" -eq "$et" ] || xfer_fail "$f.log: $st StartTask, $et EndTask"
done
grep -q "^EndTask task=[12] " "$W/trace.log" || xfer_fail "no EndTask for generation 1"
echo "ok: every StartTask of both generations got its EndTask"
echo "PASS"
