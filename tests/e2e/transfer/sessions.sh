#!/bin/bash
# e2e (hostile): authenticated sessions are bounded (max_sessions). With
# max_sessions = 1, a partner that holds a session open (openssl s_client with
# the partner's certificate, sending nothing) makes the next session get
# XFER_OVERLOADED after its handshake, which pkie send reports and counts as
# retryable; once the holder leaves, the next send is served.
. "$(dirname "$0")/lib.sh"
xfer_setup
P=$W/pki
echo "max_sessions = 1" >>"$W/recv.conf"
xfer_recv_start
mkfile f1 5000
# the holder: a mutually authenticated session that sends nothing
(sleep 120 | openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$P/root.crt" \
  -cert "$P/sender1.crt" -key "$P/sender1.key" -ign_eof >"$W/holder.out" 2>&1) &
HOLDER=$!
i=0
while ! grep -q "session from .*: partner acme" "$RECV_LOG"; do
  i=$((i + 1)); [ $i -lt 300 ] || xfer_fail "the holder's session did not start"; sleep 0.1
done
st=0
send "$W/src/f1" --retries 0 --json >"$W/over.json" 2>"$W/over.err" || st=$?
[ $st -ne 0 ] || xfer_fail "a session past max_sessions was served"
grep -q "XFER_OVERLOADED" "$W/over.err" "$W/over.json" || xfer_fail "no XFER_OVERLOADED: $(cat "$W/over.err" "$W/over.json")"
grep -q '"retryable":true' "$W/over.json" || xfer_fail "XFER_OVERLOADED not retryable: $(cat "$W/over.json")"
grep -q "refused: 1 sessions at once" "$RECV_LOG" || xfer_fail "no receiver line for the refusal"
[ -z "$(visible)" ] || xfer_fail "a file arrived past the bound: $(visible)"
echo "ok: the session past max_sessions = 1 got XFER_OVERLOADED (retryable)"
pkill -P "$HOLDER" 2>/dev/null || true
kill "$HOLDER" 2>/dev/null || true
wait "$HOLDER" 2>/dev/null || true
# the slot is given back when the holder's session ends
i=0
until send "$W/src/f1" --retries 0 >"$W/ok.out" 2>&1; do
  i=$((i + 1)); [ $i -lt 50 ] || xfer_fail "no slot after the holder left: $(cat "$W/ok.out")"; sleep 0.2
done
cmp -s "$W/src/f1" "$W/in/f1" || xfer_fail "f1 differs"
echo "ok: served once the holder left"
xfer_recv_stop
echo "transfer e2e sessions: all passed"
