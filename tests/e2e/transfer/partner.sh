#!/bin/bash
# e2e (hostile): the receiver's partner check and the audit of refused
# sessions. A certificate from the right CA whose subject matches no partner
# is refused in the handshake with alert 49 (access_denied), before
# HandshakeDone, with the internal PKI and with an exit that accepts every
# chain, in TLS 1.3 (pkie send, openssl s_client) and TLS 1.2 (s_client).
# Each refusal kind leaves one audit line: expired certificate (45), unknown
# CA (48), no client certificate (116), no matching partner (49).
. "$(dirname "$0")/lib.sh"
TESTEXIT=$BUILD/tests/xfer_testexit.so
[ -f "$TESTEXIT" ] || xfer_fail "missing $TESTEXIT"
xfer_setup
P=$W/pki
mkcert stranger "/O=pkie e2e/CN=stranger" root
# an expired certificate from the right CA (openssl ca sets past dates)
mkdir -p "$P/ca" && : >"$P/ca/index.txt" && echo 01 >"$P/ca/serial"
cat >"$P/ca.cnf" <<CNF
[ca]
default_ca = c
[c]
dir = $P/ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = p
[p]
commonName = supplied
organizationName = optional
CNF
ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/expired.key" \
  -subj "/O=pkie e2e/CN=sender9" -out "$P/expired.csr"
ossl ca -batch -config "$P/ca.cnf" -cert "$P/root.crt" -keyfile "$P/root.key" -in "$P/expired.csr" \
  -out "$P/expired.crt" -startdate 20200101000000Z -enddate 20200201000000Z -notext
pki stranger.db init
pki stranger.db import --id root --type root --cert "$P/root.crt"
pki stranger.db import --kdf-iter 10000 --id me --type user --cert "$P/stranger.crt" --key "$P/stranger.key"
sed -e "s|$W/send.db|$W/stranger.db|" -e "s|state/send|state/stranger|" "$W/send.conf" >"$W/stranger.conf"
echo "tls.min_version = TLS1.2" >>"$W/recv.conf"

# s_client NAME VERSION [CERT]: a handshake from openssl's client, its output in $W/NAME.out
s_client() {
  _c=()
  [ -n "${3:-}" ] && _c=(-cert "$P/$3.crt" -key "$P/$3.key")
  sleep 2 | timeout 20 openssl s_client -connect "127.0.0.1:$PORT" "-$2" -CAfile "$P/root.crt" \
    "${_c[@]}" -ign_eof >"$W/$1.out" 2>&1 || true
}
# audit_refusal ALERT SUBJECT-REGEX: one more refused-session line with that alert
audit_count() { grep -c "\"stage\":\"handshake\".*\"alert\":$1,\"alert_direction\":\"sent\".*\"result\":\"refused\"" "$W/audit.log" || true; }
audit_has() { grep -q "\"peer_subject\":\"$2\".*\"stage\":\"handshake\".*\"alert\":$1,\"alert_direction\":\"sent\".*\"result\":\"refused\"" "$W/audit.log" || xfer_fail "no audit line with alert $1 for $2: $(cat "$W/audit.log")"; }

for pkimode in internal accept-all; do
  if [ $pkimode = accept-all ]; then
    sed -i -e "s|^pki.exit.libpath = .*|pki.exit.libpath = $TESTEXIT|" \
      -e "s|^pki.exit.conf = .*|pki.exit.conf = log=$W/trace.log accept=all|" "$W/recv.conf"
  fi
  rm -f "$W/trace.log" "$W/audit.log"
  xfer_recv_start
  mkfile s1 1000
  if "$PKIE" send --conf "$W/stranger.conf" --to hq "$W/src/s1" --retries 0 >"$W/stranger.out" 2>&1; then
    xfer_fail "$pkimode: stranger's file accepted"
  fi
  grep -q "alert 49\|access denied" "$W/stranger.out" || echo "note: sender saw: $(cat "$W/stranger.out")"
  s_client stranger13 tls1_3 stranger
  s_client stranger12 tls1_2 stranger
  grep -qi "alert number 49\|access denied" "$W/stranger12.out" ||
    xfer_fail "$pkimode: TLS 1.2 client not told access_denied: $(cat "$W/stranger12.out")"
  grep -qi "alert number 49\|access denied" "$W/stranger13.out" ||
    xfer_fail "$pkimode: TLS 1.3 client not told access_denied: $(cat "$W/stranger13.out")"
  n=$(grep -c "failed (alert 49).*CN=stranger,O=pkie e2e.*(alert 49 access_denied, sent)" "$RECV_LOG" || true)
  [ "$n" -eq 3 ] || xfer_fail "$pkimode: $n refusals with alert 49 in the log, expected 3"
  [ "$(audit_count 49)" -eq 3 ] || xfer_fail "$pkimode: audit: $(cat "$W/audit.log")"
  audit_has 49 "CN=stranger,O=pkie e2e"
  grep -q '^CheckCertificate' "$W/trace.log" || xfer_fail "$pkimode: the exit saw no CheckCertificate"
  ! grep -q '^HandshakeDone' "$W/trace.log" || xfer_fail "$pkimode: HandshakeDone called for a refused partner"
  [ -z "$(visible)" ] || xfer_fail "$pkimode: files written: $(visible)"
  echo "ok ($pkimode): no matching partner refused with alert 49 in TLS 1.3 and 1.2, before HandshakeDone, audited"
  # the partner itself still gets through
  send "$W/src/s1" >/dev/null 2>"$W/ok.err" || xfer_fail "$pkimode: partner refused: $(cat "$W/ok.err")"
  cmp "$W/src/s1" "$W/in/s1" || xfer_fail "$pkimode: s1 differs"
  grep -q '^HandshakeDone' "$W/trace.log" || xfer_fail "$pkimode: no HandshakeDone for the partner"
  rm -f "$W/in/s1"
  xfer_recv_stop
done

# every refusal kind of the internal PKI, audited (the trace exit again)
sed -i -e "s|^pki.exit.libpath = .*|pki.exit.libpath = $TRACE_SO|" \
  -e "s|^pki.exit.conf = .*|pki.exit.conf = $W/trace.log|" "$W/recv.conf"
rm -f "$W/audit.log"
xfer_recv_start
s_client expired tls1_3 expired
s_client rogue tls1_3 rogue
s_client nocert tls1_3
audit_has 45 "O=pkie e2e,CN=sender9"
audit_has 48 "CN=sender1,O=pkie e2e"
grep -q '"peer_subject":null,.*"stage":"handshake","alert":116,"alert_direction":"sent"' "$W/audit.log" ||
  xfer_fail "no audit line for the client without a certificate: $(cat "$W/audit.log")"
[ "$(grep -c '"stage":"handshake"' "$W/audit.log")" -eq 3 ] || xfer_fail "audit: $(cat "$W/audit.log")"
echo "ok: expired (45), unknown CA (48), no certificate (116) each audited once"
xfer_recv_stop

# one SSL task: two peers trickling their ClientHello hold handshakes open
# (StartHandshake called) while four partners send at once, so the task's
# handshakes interleave; each exit call must see its own session's refs,
# private area (the trace exit counts a session's calls in it) and inputs
sed -i 's/^tasks = .*/tasks = 1/' "$W/recv.conf"
rm -f "$W/trace.log"
xfer_recv_start
"$BUILD/tests/xfer_hostile" "$PORT" 127.0.0.4 trickle 2 6 >"$W/trickle.out" 2>&1 &
hpid=$!
i=0
while [ "$(grep -c '^StartHandshake' "$W/trace.log" 2>/dev/null || true)" -lt 2 ]; do
  i=$((i + 1)); [ $i -lt 300 ] || xfer_fail "tricklers not in their handshakes"; sleep 0.1
done
send_parallel 4
wait $hpid
i=0
while [ "$(grep -c '"peer":"127.0.0.4:.*"stage":"handshake"' "$W/audit.log" || true)" -lt 2 ]; do
  i=$((i + 1)); [ $i -lt 300 ] || xfer_fail "trickler sessions not ended: $(cat "$W/audit.log")"; sleep 0.1
done
xfer_recv_stop
awk '
  { ph = $1; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    s = f["session"] }
  ph == "StartTask" || ph == "EndTask" { next }
  { if (f["xsession"] != 4294967296 + s && !(ph == "StartHandshake" && f["xsession"] == 0)) { print "session " s ": xsession " f["xsession"] " at " ph; bad++ }
    if (f["calls"] != calls[s] + 1) { print "session " s ": call " f["calls"] " after " calls[s] " at " ph; bad++ }
    calls[s] = f["calls"] }
  ph == "StartHandshake" { open_hs[s] = 1; for (o in open_hs) if (o != s) inter++ }
  ph == "HandshakeDone" || ph == "EndSession" { delete open_hs[s] }
  END { print "interleaved handshakes: " inter + 0; exit bad > 0 }' "$W/trace.log" >"$W/interleave.out" ||
  xfer_fail "exit calls saw another session's state: $(cat "$W/interleave.out")"
cat "$W/interleave.out"
grep -q "interleaved handshakes: [1-9]" "$W/interleave.out" || xfer_fail "no handshakes interleaved"
echo "ok: one task, interleaved handshakes, each exit call with its own session's state"
echo "transfer e2e partner: all passed"
