#!/bin/bash
# pkie recv under a stand-in for systemd (docs/architecture.md, "Running under
# systemd"): NOTIFY_SOCKET points at a test datagram socket
# (notify_listener.py). READY=1 comes only once the port accepts; WATCHDOG=1
# comes periodically with WATCHDOG_USEC; SIGHUP with a renewed certificate
# (new key, same CA, imported into the PKI base, cert = its id) gives
# RELOADING=1 then READY=1 and the next handshake presents it, while a
# transfer in flight across the SIGHUP completes with result ok; reloads that
# fail (a syntax error, an unknown certificate id, a key that takes a
# restart) keep serving with the old certificate; SIGTERM gives STOPPING=1.
. "$(dirname "$0")/lib.sh"
xfer_setup
# the internal PKI base (no exit): the reload re-reads it
sed -i '/^pki.type\|^pki.exit/d' "$W/recv.conf"
N=$W/notify.log
NS=$W/notify.sock
LISTENER_PID=
cleanup_notify() {
  if [ -n "$LISTENER_PID" ]; then kill "$LISTENER_PID" 2>/dev/null || true; fi
  cleanup
}
trap cleanup_notify EXIT

python3 "$(dirname "$0")/notify_listener.py" "$NS" "$N" "$PORT" &
LISTENER_PID=$!
wait_for() { # wait_for WHAT PATTERN [COUNT]: a line of $N matching PATTERN, COUNT times
  _i=0
  while _c=$(grep -c -- "$2" "$N" 2>/dev/null); [ "${_c:-0}" -lt "${3:-1}" ]; do
    _i=$((_i + 1))
    [ $_i -lt 600 ] || xfer_fail "no $1 within 60 s: $(cat "$N")"
    [ -z "$RECV_PID" ] || kill -0 "$RECV_PID" 2>/dev/null || xfer_fail "pkie recv exited"
    sleep 0.1
  done
}
wait_for "listener" "^LISTENING"

# serial_presented: the serial of the certificate the receiver presents now
# (a full mutual handshake as partner acme's sender1)
serial_presented() {
  openssl s_client -connect "127.0.0.1:$PORT" -cert "$W/pki/sender1.crt" \
    -key "$W/pki/sender1.key" -CAfile "$W/pki/root.crt" </dev/null 2>"$W/sclient.err" |
    openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}
serial_of() { openssl x509 -noout -serial -in "$1" | sed 's/^serial=//'; }

# ---- READY=1 once the port accepts; the watchdog --------------------------
RECV_LOG=$W/recv1.log
NOTIFY_SOCKET=$NS WATCHDOG_USEC=1000000 "$PKIE" recv --conf "$W/recv.conf" 2>"$RECV_LOG" &
RECV_PID=$!
wait_for "READY=1" " READY=1"
wait_for "the listener's connection" "^CONNECT"
first=$(grep -m1 -n "READY=1\|^CONNECT" "$N")
case "$first" in *READY=1*) ;; *) xfer_fail "a connection result before READY=1: $first" ;; esac
grep -m1 "^CONNECT" "$N" | grep -q "CONNECT ok" ||
  xfer_fail "READY=1 came before the port accepted: $(grep -m1 '^CONNECT' "$N")"
grep -m1 " READY=1" "$N" | grep -q "STATUS=listening on 127.0.0.1:$PORT" ||
  xfer_fail "READY=1 without a listening STATUS: $(grep -m1 ' READY=1' "$N")"
echo "ok: READY=1 after the port accepts"
# WATCHDOG_USEC 1 s: a keep-alive every 0.5 s
w0=$(grep -c "WATCHDOG=1" "$N" || true)
wait_for "keep-alives" "WATCHDOG=1" $((w0 + 4))
# paced at half the interval: never two within 0.4 s
awk '/ WATCHDOG=1$/ { if (last != "" && $1 - last < 0.4) bad = 1; last = $1 } END { exit bad }' "$N" ||
  xfer_fail "keep-alives closer than 0.4 s apart: $(grep WATCHDOG "$N")"
echo "ok: WATCHDOG=1 periodically"

old=$(serial_presented)
[ "$old" = "$(serial_of "$W/pki/recv.crt")" ] || xfer_fail "presented serial '$old' is not recv's"

# ---- SIGHUP with a renewed certificate, a transfer in flight ---------------
mkcert recv2 "/O=pkie e2e/CN=receiver" root
[ "$(serial_of "$W/pki/recv2.crt")" != "$old" ] || xfer_fail "renewed certificate has the old serial"
# a transfer held open across the reload (xfer_rawclient hold: FILE and half
# the data, the rest once $W/go exists); a sender racing a 64 MiB file could
# finish before the reload on a fast machine
RAW=$BUILD/tests/xfer_rawclient
[ -x "$RAW" ] || xfer_fail "missing $RAW"
"$RAW" "$W/send.conf" "$PORT" "hold=$W/go" >"$W/held.out" 2>&1 &
SEND_PID=$!
_i=0
while ! grep -q "^HELD" "$W/held.out"; do
  _i=$((_i + 1))
  [ $_i -lt 600 ] || xfer_fail "the held transfer did not start"
  kill -0 $SEND_PID 2>/dev/null || xfer_fail "the held sender ended before the reload: $(cat "$W/held.out")"
  sleep 0.1
done
pki recv.db import --kdf-iter 10000 --id recv2 --type user --cert "$W/pki/recv2.crt" --key "$W/pki/recv2.key"
sed -i 's/^cert = recv$/cert = recv2/' "$W/recv.conf"
r0=$(grep -c " READY=1" "$N")
kill -HUP "$RECV_PID"
wait_for "READY=1 after the reload" " READY=1" $((r0 + 1))
grep " RELOADING=1|MONOTONIC_USEC=[0-9]" "$N" >/dev/null || xfer_fail "no RELOADING=1 with MONOTONIC_USEC"
grep " READY=1" "$N" | tail -n 1 | grep -q "STATUS=reloaded" ||
  xfer_fail "READY=1 after the reload without STATUS=reloaded: $(tail -n 3 "$N")"
# RELOADING=1 comes before that READY=1
awk '/ RELOADING=1/ {r = NR} / READY=1/ {y = NR} END {exit !(r && y > r)}' "$N" ||
  xfer_fail "RELOADING=1 not followed by READY=1"
new=$(serial_presented)
[ "$new" = "$(serial_of "$W/pki/recv2.crt")" ] ||
  xfer_fail "after the reload the receiver presents '$new', not the renewed certificate"
echo "ok: the next handshake presents the renewed certificate"
kill -0 $SEND_PID 2>/dev/null || xfer_fail "the held sender ended during the reload: $(cat "$W/held.out")"
touch "$W/go"
wait $SEND_PID || xfer_fail "the transfer in flight across the reload failed: $(cat "$W/held.out")"
grep -q "^PASS hold: DONE after the release" "$W/held.out" || xfer_fail "no DONE: $(cat "$W/held.out")"
[ "$(stat -c %s "$W/in/raw-held.bin")" = 65536 ] || xfer_fail "raw-held.bin is not 64 KiB"
grep '"file":"raw-held.bin"' "$W/audit.log" | grep -q '"result":"ok"' ||
  xfer_fail "no ok audit line for raw-held.bin"
echo "ok: the transfer in flight across SIGHUP completed"

# ---- reloads that fail keep the running configuration ---------------------
cp "$W/recv.conf" "$W/recv.conf.good"
bad_reload() { # bad_reload WHAT EXPECTED_LOG_TEXT
  r0=$(grep -c " READY=1" "$N")
  kill -HUP "$RECV_PID"
  wait_for "READY=1 after the $1 reload" " READY=1" $((r0 + 1))
  grep " READY=1" "$N" | tail -n 1 | grep -q "STATUS=reload refused" ||
    xfer_fail "$1: READY=1 without STATUS=reload refused: $(tail -n 3 "$N")"
  grep -q "reload refused.*$2" "$RECV_LOG" || xfer_fail "$1: no specific error ($2) in the log"
  s=$(serial_presented)
  [ "$s" = "$new" ] || xfer_fail "$1: presents '$s' after a refused reload"
  cp "$W/recv.conf.good" "$W/recv.conf"
  echo "ok: refused reload ($1) keeps serving"
}
echo "no equals sign" >>"$W/recv.conf"
bad_reload "syntax error" "recv.conf"
sed -i 's/^cert = recv2$/cert = nosuchcert/' "$W/recv.conf"
bad_reload "unknown certificate" "cert = nosuchcert"
sed -i "s/^listen = .*/listen = 127.0.0.1:$((PORT + 1))/" "$W/recv.conf"
bad_reload "listen changed" "listen changed: it takes a restart"
sed -i "s|^pki.password = .*|pki.password = $W/nonexistent-password-file|" "$W/recv.conf"
bad_reload "unreadable password file" "pki.password"
mkfile small 100000
send "$W/src/small" >/dev/null 2>"$W/small.err" || xfer_fail "send after refused reloads: $(cat "$W/small.err")"
cmp "$W/src/small" "$W/in/small" || xfer_fail "small differs"

# ---- SIGTERM: STOPPING=1 ---------------------------------------------------
xfer_recv_stop
grep -q " STOPPING=1" "$N" || xfer_fail "no STOPPING=1"
echo "ok: STOPPING=1"
echo "PASS"
