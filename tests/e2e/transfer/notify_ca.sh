#!/bin/sh
# pkie ca serve under a stand-in for systemd: READY=1 comes once the port
# accepts (the listener connects when it arrives), WATCHDOG=1 periodically
# with WATCHDOG_USEC, SIGHUP is logged and ignored (the server keeps serving:
# a CMP enrollment after it succeeds), SIGTERM gives STOPPING=1.
set -u
D=$(dirname "$0")
. "$D/../../interop/ca/lib.sh"
CAPORT=18081 # a fixed port: the test runs in its own network namespace
N=$WORK/notify.log
ca_init
python3 "$D/notify_listener.py" "$WORK/notify.sock" "$N" "$CAPORT" &
LISTENER_PID=$!
trap 'kill "$LISTENER_PID" 2>/dev/null; cleanup' EXIT INT TERM
wait_for() { # wait_for WHAT PATTERN COUNT
  i=0
  while c=$(grep -c -- "$2" "$N" 2>/dev/null); [ "${c:-0}" -lt "$3" ]; do
    i=$((i + 1))
    [ $i -lt 600 ] || die "no $1 within 60 s: $(cat "$N" 2>/dev/null)"
    [ -z "$SERVER_PID" ] || kill -0 "$SERVER_PID" 2>/dev/null || die "pkie ca serve exited"
    sleep 0.1
  done
}
wait_for listener "^LISTENING" 1
NOTIFY_SOCKET=$WORK/notify.sock WATCHDOG_USEC=1000000 \
  "$PKIE_BIN" ca serve --dir "$WORK/ca" --listen 127.0.0.1:$CAPORT >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
wait_for READY=1 " READY=1" 1
wait_for "the listener's connection" "^CONNECT" 1
first=$(grep -m1 "READY=1\|^CONNECT" "$N")
case "$first" in *READY=1*STATUS=serving\ CMP\ on\ http://127.0.0.1:$CAPORT*) ok "READY=1 with its STATUS" ;;
  *) bad "first message: $first" ;; esac
grep -m1 "^CONNECT" "$N" | grep -q "CONNECT ok" && ok "the port accepts when READY=1 arrives" ||
  bad "READY=1 before the port accepted: $(grep -m1 '^CONNECT' "$N")"
w0=$(grep -c "WATCHDOG=1" "$N")
wait_for keep-alives "WATCHDOG=1" $((w0 + 3))
ok "WATCHDOG=1 periodically"
kill -HUP "$SERVER_PID"
wait_for "the SIGHUP status" "SIGHUP ignored" 1
kill -0 "$SERVER_PID" 2>/dev/null && ok "SIGHUP does not end the server" || bad "SIGHUP ended the server"
grep -q "SIGHUP: pkie ca serve does not reload" "$WORK/serve.log" && ok "SIGHUP logged" || bad "no SIGHUP log line"
newkey "$WORK/k.pem"
check "enrollment after SIGHUP" openssl cmp -cmd ir -server 127.0.0.1:$CAPORT -path pkix/ \
  -ref client1 -secret pass:s3cret -newkey "$WORK/k.pem" -subject "/CN=after-hup/O=pkie" \
  -implicit_confirm -certout "$WORK/after-hup.pem" -msg_timeout 10
kill -TERM "$SERVER_PID"
st=0
wait "$SERVER_PID" || st=$?
SERVER_PID=
[ $st -eq 0 ] && ok "exit status 0 after SIGTERM" || bad "exit status $st after SIGTERM"
grep -q " STOPPING=1" "$N" && ok "STOPPING=1" || bad "no STOPPING=1"
[ $fails -eq 0 ] || exit 1
echo PASS
