#!/bin/sh
# e2e: pkie ca serve --metrics. After `openssl cmp` enrollments (MAC with
# implicit confirmation and with certConf, a wrong MAC secret, garbage, a
# request waiting for manual approval and polling), /metrics parsed with
# python3-prometheus-client counts the requests by type and result, the
# pending gauge follows the approval, and the CRL's nextUpdate equals the one
# of the CRL served at GET /crl. Inside tests/netns-run: fixed port.
set -u
. "$(dirname "$0")/../../interop/ca/lib.sh"
MPORT=19465
URL=http://127.0.0.1:$MPORT/metrics
PY=
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import prometheus_client.parser' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || die "python3-prometheus-client is missing (scripts/deps.sh)"

# check_metrics EXPR...: each a Python expression over v(name, **labels) (an
# error when the sample is not there exactly once) and fam (families by name)
check_metrics() {
  curl -sS -D "$WORK/headers" -o "$WORK/metrics.txt" "$URL" || return 1
  "$PY" - "$WORK/metrics.txt" "$@" <<'PY'
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

# wait_metrics EXPR...: until they hold (30 s at most)
wait_metrics() {
  i=0
  while ! check_metrics "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 300 ]; then check_metrics "$@"; return 1; fi
    sleep 0.1
  done
}

ca_init --intermediate
refute "--metrics on a host name" "metrics" "$PKIE_BIN" ca serve --dir "$WORK/ca" --listen 127.0.0.1:0 \
  --metrics somewhere:9464
refute "--metrics with a bad port" "metrics" "$PKIE_BIN" ca serve --dir "$WORK/ca" --listen 127.0.0.1:0 \
  --metrics 127.0.0.1:70000
ca_serve --metrics "127.0.0.1:$MPORT"
check "metrics line" grep -q "serving metrics on http://127.0.0.1:$MPORT/metrics" "$WORK/serve.log"
check "nothing counted yet, nothing pending" check_metrics \
  'not fam["pkie_ca_requests"].samples' "v('pkie_ca_pending_requests') == 0"
check "content type" grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$WORK/headers"
check "GET / is 404" sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$MPORT/)\" = 404"
check "POST is 405" sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' -d x $URL)\" = 405"

S="-server 127.0.0.1:$PORT -path pkix/"
MAC="-ref client1 -secret pass:s3cret"
newkey "$WORK/k1.pem"
check "ir implicitConfirm 1" openssl cmp -cmd ir $S $MAC -newkey "$WORK/k1.pem" \
  -subject "/CN=m1/O=pkie" -implicit_confirm -certout "$WORK/c1.pem"
check "ir implicitConfirm 2" openssl cmp -cmd ir $S $MAC -newkey "$WORK/k1.pem" \
  -subject "/CN=m2/O=pkie" -implicit_confirm -certout "$WORK/c2.pem"
check "ir with certConf" openssl cmp -cmd ir $S $MAC -newkey "$WORK/k1.pem" \
  -subject "/CN=m3/O=pkie" -certout "$WORK/c3.pem"
refute "ir with a wrong secret" "rror" openssl cmp -cmd ir $S -ref client1 -secret pass:wrong \
  -newkey "$WORK/k1.pem" -subject "/CN=m4/O=pkie" -certout "$WORK/c4.pem"
check "garbage POST answered" sh -c "curl -s -o /dev/null -H 'Content-Type: application/pkixcmp' \
  --data-binary garbage http://127.0.0.1:$PORT/pkix/"
check "requests counted by type and result" check_metrics \
  "v('pkie_ca_requests_total', type='ir', result='accepted') == 3" \
  "v('pkie_ca_requests_total', type='certConf', result='accepted') == 1" \
  "v('pkie_ca_requests_total', type='ir', result='rejected') == 1" \
  "v('pkie_ca_requests_total', type='invalid', result='rejected') == 1" \
  "len(fam['pkie_ca_requests'].samples) == 4"

# manual approval: the request waits (pending 1), the client polls, approval
printf 'm4nual\n' >"$WORK/secret2"
"$PKIE_BIN" ca client add --dir "$WORK/ca" --ref manual1 --secret-file "$WORK/secret2" \
  --subject-pattern "CN=*" --approval manual || die "client add manual1"
( openssl cmp -cmd ir $S -ref manual1 -secret pass:m4nual -newkey "$WORK/k1.pem" \
  -subject "/CN=waiter" -implicit_confirm -certout "$WORK/cw.pem" >"$WORK/poll.log" 2>&1
  echo "rc=$?" >>"$WORK/poll.log" ) &
check "pending 1, ir waiting, pollReq waiting" wait_metrics "v('pkie_ca_pending_requests') == 1" \
  "v('pkie_ca_requests_total', type='ir', result='waiting') == 1" \
  "v('pkie_ca_requests_total', type='pollReq', result='waiting') >= 1"
approve_pending waiter "$WORK/poll.log"
check "polling client got its certificate" grep -q "rc=0" "$WORK/poll.log"
check "pending 0, the last pollReq accepted" wait_metrics "v('pkie_ca_pending_requests') == 0" \
  "v('pkie_ca_requests_total', type='pollReq', result='accepted') == 1"

# the CRL's nextUpdate: the one GET /crl serves
check "GET /crl" curl -sf -o "$WORK/crl.der" "http://127.0.0.1:$PORT/crl"
next=$(openssl crl -inform DER -in "$WORK/crl.der" -noout -nextupdate | sed 's/^nextUpdate=//')
next=$(date -u -d "$next" +%s)
check "CRL nextUpdate $next" check_metrics "v('pkie_ca_crl_next_update_timestamp_seconds') == $next" \
  "fam['pkie_ca_crl_next_update_timestamp_seconds'].type == 'gauge'"
ca_stop
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
