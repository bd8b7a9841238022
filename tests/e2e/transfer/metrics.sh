#!/bin/bash
# e2e: pkie recv with metrics.listen. N transfers and one handshake refused
# (a sender of another CA); /metrics scraped with curl and parsed with
# python3-prometheus-client: the transfer counters equal the transfers made,
# the bytes their sizes, the duration histogram counts them, the refusal is
# counted by its alert, the certificate expiry equals the presented
# certificate's notAfter (openssl x509 -enddate), the exit calls are counted.
# Hostile: idle and garbage connections to the metrics port do not stall a
# transfer. Then the exit serves another certificate: its expiry under id
# "exit". Inside tests/netns-run: fixed ports.
. "$(dirname "$0")/lib.sh"
MPORT=19464
URL=http://127.0.0.1:$MPORT/metrics
TESTEXIT=$BUILD/tests/xfer_testexit.so
# Debian's python3-prometheus-client lives in /usr/bin/python3's path (a
# python3 earlier in PATH may be another installation)
PY=
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import prometheus_client.parser' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || xfer_fail "python3-prometheus-client is missing (scripts/deps.sh)"
xfer_setup
echo "metrics.listen = 127.0.0.1:$MPORT" >>"$W/recv.conf"

# a bad metrics.listen is refused at the configuration check
cp "$W/recv.conf" "$W/bad.conf"
echo "metrics.listen = somehost:9464" >>"$W/bad.conf"
"$PKIE" recv --conf "$W/bad.conf" --check >"$W/bad.out" 2>&1 && xfer_fail "bad metrics.listen accepted"
grep -q "metrics.listen" "$W/bad.out" || xfer_fail "bad metrics.listen: $(cat "$W/bad.out")"
sed -i 's/^metrics.listen = somehost:9464$/metrics.listen = 127.0.0.1:99999/' "$W/bad.conf"
"$PKIE" recv --conf "$W/bad.conf" --check >"$W/bad.out" 2>&1 && xfer_fail "port 99999 accepted"
echo "ok: bad metrics.listen refused"

xfer_recv_start
grep -q "serving /metrics on 127.0.0.1:$MPORT" "$RECV_LOG" || xfer_fail "no metrics line in the log"

scrape() { curl -sS -D "$W/headers" -o "$W/metrics.txt" "$URL" || xfer_fail "curl $URL failed"; }

# holds EXPR...: each a Python expression over v(name, **labels) (the value
# of one sample, an error when absent) and fam (the families by name); check
# EXPR...: the same, a failure of the test when one does not hold
holds() {
  "$PY" - "$W/metrics.txt" "$@" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1], encoding="utf-8").read()
fam = {f.name: f for f in text_string_to_metric_families(text)}
samples = [s for f in fam.values() for s in f.samples]
def v(name, **labels):
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    if len(found) != 1:
        raise SystemExit("%d samples %s %s" % (len(found), name, labels))
    return found[0]
for expr in sys.argv[2:]:
    if not eval(expr):
        print("FALSE:", expr, file=sys.stderr)
        sys.exit(1)
PY
}
check() {
  holds "$@" || xfer_fail "metrics check failed (above)"
}

scrape
grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$W/headers" ||
  xfer_fail "content type: $(cat "$W/headers")"
# before any transfer: families there, no transfer counted, the certificate set
check 'fam["pkie_transfers"].type == "counter"' 'fam["pkie_transfer_duration_seconds"].type == "histogram"' \
  'fam["pkie_sessions"].type == "gauge"' 'not fam["pkie_transfers"].samples'
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")" = 404 ] || xfer_fail "GET / not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$URL")" = 405 ] || xfer_fail "POST not 405"

# N transfers, sizes known
N=4
SIZES=(0 1 70000 1048577)
total=0
for i in $(seq 0 $((N - 1))); do
  mkfile "m$i" "${SIZES[$i]}"
  total=$((total + SIZES[i]))
done
send "$W/src/m0" "$W/src/m1" "$W/src/m2" "$W/src/m3" --json >"$W/send.json" ||
  xfer_fail "pkie send: $(cat "$W/send.json")"
# one refused handshake (another CA: unknown_ca, 48)
"$PKIE" send --conf "$W/rogue.conf" --to hq "$W/src/m1" --retries 0 >"$W/rogue.out" 2>&1 &&
  xfer_fail "rogue sender accepted"

# the counters are set before the sender hears DONE; the refusal before the
# connection closes; the sessions gauge when the session thread ends; a
# posted EndSession is counted when its answer is taken (the task's next
# exit call or its 100 ms scan): wait
settled=("v('pkie_sessions', state='active') == 0" "v('pkie_sessions', state='handshaking') == 0"
  "v('pkie_handshake_failures_total', alert='unknown_ca') == 1"
  "v('pkie_exit_calls_total', phase='EndSession', result='not_handled') >= 2")
ok=0
for _ in $(seq 1 100); do
  scrape
  if holds "${settled[@]}" 2>/dev/null; then ok=1; break; fi
  sleep 0.1
done
[ $ok = 1 ] || { check "${settled[@]}"; xfer_fail "gauges did not settle"; }

enddate=$(openssl x509 -in "$W/pki/recv.crt" -noout -enddate | sed 's/^notAfter=//')
serial=$(openssl x509 -in "$W/pki/recv.crt" -noout -serial | sed 's/^serial=//')
notafter=$(date -u -d "$enddate" +%s)
check "v('pkie_transfers_total', partner='acme', direction='in', result='ok') == $N" \
  "v('pkie_transfer_bytes_total', partner='acme', direction='in') == $total" \
  "v('pkie_transfer_duration_seconds_count', partner='acme', direction='in') == $N" \
  "v('pkie_transfer_duration_seconds_bucket', partner='acme', direction='in', le='+Inf') == $N" \
  "v('pkie_transfer_duration_seconds_sum', partner='acme', direction='in') >= 0" \
  "len(fam['pkie_handshake_failures'].samples) == 1" \
  "v('pkie_certificate_expiry_timestamp_seconds', id='recv', subject='CN=receiver,O=pkie e2e', serial='$serial') == $notafter" \
  "len(fam['pkie_certificate_expiry_timestamp_seconds'].samples) == 1" \
  "v('pkie_exit_calls_total', phase='StartHandshake', result='not_handled') >= $((1 + 1))" \
  "v('pkie_exit_calls_total', phase='EndSession', result='not_handled') >= 2" \
  "v('pkie_metrics_series_dropped_total') == 0"
echo "ok: $N transfers ($total bytes), one refusal (unknown_ca), expiry $notafter, exit calls counted"

# the audit agrees
n=$(grep -c '"result":"ok"' "$W/audit.log")
[ "$n" -eq $N ] || xfer_fail "audit: $n ok lines, expected $N"

# hostile: 20 idle connections (more than the endpoint's 16) and garbage;
# a transfer meanwhile goes through, and the endpoint serves again after
"$PY" - "$MPORT" >"$W/hostile.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
idle = []
for _ in range(20):
    s = socket.socket(); s.connect(("127.0.0.1", port)); idle.append(s)
g = socket.socket(); g.connect(("127.0.0.1", port))
g.sendall(b"\x00\xff garbage\r\n" * 50)
half = socket.socket(); half.connect(("127.0.0.1", port))
half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never ends its headers
time.sleep(8)
PY
HPID=$!
sleep 0.5
mkfile h1 300000
t0=$(date +%s)
send "$W/src/h1" >"$W/h1.out" 2>&1 || xfer_fail "transfer during the hostile clients: $(cat "$W/h1.out")"
t1=$(date +%s)
cmp "$W/src/h1" "$W/in/h1" || xfer_fail "h1 differs"
[ $((t1 - t0)) -lt 20 ] || xfer_fail "transfer took $((t1 - t0)) s with hostile metrics clients"
kill -0 "$RECV_PID" || xfer_fail "pkie recv died"
wait "$HPID" || true
ok=0
for _ in $(seq 1 100); do
  if curl -sS -m 5 -o "$W/metrics.txt" "$URL" 2>/dev/null &&
    holds "v('pkie_transfers_total', partner='acme', direction='in', result='ok') == $((N + 1))" 2>/dev/null; then
    ok=1; break
  fi
  sleep 0.1
done
[ $ok = 1 ] || xfer_fail "endpoint not serving after the hostile clients"
echo "ok: idle and garbage metrics clients: transfer in $((t1 - t0)) s, endpoint serving again"
xfer_recv_stop

# the exit serves another certificate of the same key: id "exit"
ossl req -new -x509 -key "$W/pki/recv.key" -subj "/O=pkie e2e/CN=receiver" -days 45 -sha256 \
  -CA "$W/pki/root.crt" -CAkey "$W/pki/root.key" \
  -addext basicConstraints=critical,CA:FALSE -addext keyUsage=critical,digitalSignature \
  -out "$W/pki/recv2.crt"
ossl x509 -in "$W/pki/recv2.crt" -outform DER -out "$W/pki/recv2.der"
sed -i -e "s|^pki.exit.libpath = .*|pki.exit.libpath = $TESTEXIT|" \
  -e "s|^pki.exit.conf = .*|pki.exit.conf = chain=$W/pki/recv2.der|" "$W/recv.conf"
xfer_recv_start
send "$W/src/m1" >"$W/x.out" 2>&1 || true # m1 exists: refused at FILE, the handshake is what counts
mkfile x1 5000
send "$W/src/x1" >"$W/x.out" 2>&1 || xfer_fail "send with the exit's certificate: $(cat "$W/x.out")"
scrape
enddate=$(openssl x509 -in "$W/pki/recv2.crt" -noout -enddate | sed 's/^notAfter=//')
serial=$(openssl x509 -in "$W/pki/recv2.crt" -noout -serial | sed 's/^serial=//')
notafter2=$(date -u -d "$enddate" +%s)
[ "$notafter2" != "$notafter" ] || xfer_fail "test certificates with the same notAfter"
check "v('pkie_certificate_expiry_timestamp_seconds', id='exit', subject='CN=receiver,O=pkie e2e', serial='$serial') == $notafter2" \
  "v('pkie_certificate_expiry_timestamp_seconds', id='recv', subject='CN=receiver,O=pkie e2e', serial='$(openssl x509 -in "$W/pki/recv.crt" -noout -serial | sed 's/^serial=//')') == $notafter" \
  "v('pkie_exit_calls_total', phase='GetCertificate', result='handled') >= 2" \
  "v('pkie_transfers_total', partner='acme', direction='in', result='ok') == 1" \
  "v('pkie_transfers_total', partner='acme', direction='in', result='refused') == 1"
echo "ok: the certificate the exit served: expiry $notafter2 under id exit"
xfer_recv_stop
echo "transfer e2e metrics: all passed"
