#!/bin/bash
# e2e (sender side): refusals are final, transient errors are retried, and
# what the sender reports says what happened.
#  - partner mismatch (the receiver's subject matches no partner.hq.subject),
#    with the internal PKI and with an exit that accepts every chain of the
#    root: XFER_DENIED before anything is sent, one attempt, one audit line
#  - an expired sender certificate (TLS 1.3: the receiver's alert 45 arrives
#    after the client's Finished) and another CA in TLS 1.2 (alert 48 in the
#    handshake): the alert by name, one attempt, not retryable, no TLS version
#  - a name taken at the receiver: one attempt, not retryable
#  - nobody listening: retries + 1 attempts, retryable
#  - a full disk (tmpfs): retried once after --disk-full-delay, retryable
# The disk needs a mount namespace of our own: re-run under unshare -m.
if [ -z "${XFER_MNTNS:-}" ]; then
  XFER_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
HA=$BUILD/tests/exits/exit_handles_all.so
[ -f "$HA" ] || xfer_fail "missing $HA"
xfer_setup
echo "tls.min_version = TLSv1.2" >>"$W/recv.conf" # TLS 1.2 peers too
xfer_recv_start
mkfile f1 70000

# jfield FILE KEY: the value of "KEY": in a one-line JSON summary
jfield() { sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" "$1" | head -1; }
# expect_send NAME CONF STATUS ATTEMPTS RETRYABLE ERROR_RE [args]: run pkie send --json
expect_send() {
  _n=$1 _conf=$2 _st=$3 _att=$4 _rt=$5 _re=$6
  shift 6
  _s=0
  "$PKIE" send --conf "$_conf" --json "$@" >"$W/$_n.json" 2>"$W/$_n.err" || _s=$?
  [ $_s -eq "$_st" ] || xfer_fail "$_n: exit status $_s, expected $_st: $(cat "$W/$_n.json" "$W/$_n.err")"
  [ "$(jfield "$W/$_n.json" attempts)" = "$_att" ] ||
    xfer_fail "$_n: attempts $(jfield "$W/$_n.json" attempts), expected $_att: $(cat "$W/$_n.json")"
  [ "$(jfield "$W/$_n.json" retryable)" = "$_rt" ] ||
    xfer_fail "$_n: retryable $(jfield "$W/$_n.json" retryable), expected $_rt: $(cat "$W/$_n.json")"
  grep -Eq "\"error\":\"$_re" "$W/$_n.json" || xfer_fail "$_n: error not /$_re/: $(cat "$W/$_n.json")"
  grep -q "alert -1" "$W/$_n.json" "$W/$_n.err" && xfer_fail "$_n: 'alert -1' reported"
  return 0
}
no_tls() { # a refused session names no TLS version or cipher
  grep -q '"tls_version":null,"cipher":null' "$W/$1.json" || xfer_fail "$1: TLS named: $(cat "$W/$1.json")"
}

# -- partner mismatch, internal PKI: its DN filter (the partner's patterns)
# refuses in the handshake already; either way nothing is sent, no retry
sed -e 's/^partner.hq.subject = .*/partner.hq.subject = CN=someone else,O=pkie e2e/' \
  -e '$a audit = '"$W"'/send-audit.log' "$W/send.conf" >"$W/wrong.conf"
expect_send deny "$W/wrong.conf" 2 1 false \
  "(XFER_DENIED: receiver 127.0.0.1:$PORT is not partner hq|XFER_TLS: .*alert 4[29] [a-z_]+ sent.*matches no DN filter)" \
  --to hq --retries 3 "$W/src/f1"
no_tls deny
grep -q retrying "$W/deny.err" && xfer_fail "a partner refusal was retried"
grep -Eq '"event":"refused","side":"sender","partner":"hq","peer":"127.0.0.1:'"$PORT"'".*"result":"refused","error":"(XFER_DENIED|.*matches no DN filter)' \
  "$W/send-audit.log" || xfer_fail "no sender audit line: $(cat "$W/send-audit.log" 2>&1)"
[ -z "$(visible)" ] || xfer_fail "sent to a receiver that is not the partner: $(visible)"
echo "ok: internal PKI: receiver not partner hq refused ($(jfield "$W/deny.json" alert_name)), 1 attempt, audited"

# -- partner mismatch, an exit that accepts every chain of the root
exitconf() { # FILE SUBJECT: the sender through exit_handles_all
  sed -e "s/^partner.hq.subject = .*/partner.hq.subject = $2/" -e '/^pki\./d' "$W/send.conf" >"$1"
  cat >>"$1" <<CONF
pki.type = exit
pki.exit.libpath = $HA
pki.exit.conf = chain=$W/pki/sender1.crt key=$W/pki/sender1.key ca=$W/pki/root.crt
audit = $W/send-audit.log
CONF
}
exitconf "$W/xok.conf" "CN=receiver,O=pkie e2e"
exitconf "$W/xwrong.conf" "CN=someone else,O=pkie e2e"
expect_send xdeny "$W/xwrong.conf" 2 1 false "XFER_DENIED" --to hq "$W/src/f1"
no_tls xdeny
[ -z "$(visible)" ] || xfer_fail "exit: sent to a receiver that is not the partner: $(visible)"
grep -q '"side":"sender","partner":"hq","peer":"127.0.0.1:'"$PORT"'","peer_subject":"CN=receiver,O=pkie e2e","peer_issuer":"CN=e2e Root,O=pkie e2e","peer_serial":"[0-9A-F]*","stage":"handshake","alert":null.*XFER_DENIED' "$W/send-audit.log" ||
  xfer_fail "exit: no second audit line: $(cat "$W/send-audit.log")"
"$PKIE" send --conf "$W/xok.conf" --to hq --json "$W/src/f1" >"$W/xok.json" 2>"$W/xok.err" ||
  xfer_fail "exit: the right partner refused: $(cat "$W/xok.json" "$W/xok.err")"
cmp "$W/src/f1" "$W/in/f1" || xfer_fail "f1 differs"
grep -q '"tls_version":"TLSv1.3"' "$W/xok.json" || xfer_fail "no TLS version: $(cat "$W/xok.json")"
echo "ok: exit accepting every chain: receiver not partner hq refused; partner hq served"

# -- a name taken at the receiver: refused, not retried
expect_send exists "$W/send.conf" 2 1 false "XFER_EXISTS" --to hq --retries 3 "$W/src/f1"
echo "ok: existing name: 1 attempt, not retryable"

# -- an expired sender certificate (TLS 1.3): the receiver's alert 45 by name
ossl req -new -key "$W/pki/sender1.key" -subj "/O=pkie e2e/CN=sender1" -out "$W/pki/exp.csr"
ossl x509 -req -in "$W/pki/exp.csr" -CA "$W/pki/root.crt" -CAkey "$W/pki/root.key" -days -1 \
  -out "$W/pki/expired.crt"
pki exp.db init
pki exp.db import --id root --type root --cert "$W/pki/root.crt"
pki exp.db import --force --kdf-iter 10000 --id me --type user --cert "$W/pki/expired.crt" \
  --key "$W/pki/sender1.key"
sed -e "s|$W/send.db|$W/exp.db|" -e '$a audit = '"$W"'/send-audit.log' "$W/send.conf" >"$W/exp.conf"
expect_send expired "$W/exp.conf" 2 1 false "XFER_TLS: .*alert 45 \\(certificate_expired\\)" \
  --to hq --retries 3 "$W/src/f1"
no_tls expired
[ "$(jfield "$W/expired.json" alert_name)" = '"certificate_expired"' ] ||
  xfer_fail "no alert name: $(cat "$W/expired.json")"
grep -q '"side":"sender".*"alert":45,"alert_direction":"received","alert_name":"certificate_expired"' \
  "$W/send-audit.log" || xfer_fail "expired: no audit line: $(cat "$W/send-audit.log")"
echo "ok: TLS 1.3 expired certificate: alert 45 certificate_expired, 1 attempt, audited"

# -- another CA in TLS 1.2: alert 48 during the handshake
sed -e '$a tls.min_version = TLSv1.2' -e '$a tls.max_version = TLSv1.2' -e '$a audit = '"$W"'/send-audit.log' "$W/rogue.conf" >"$W/rogue12.conf"
expect_send rogue12 "$W/rogue12.conf" 2 1 false "XFER_TLS: TLS handshake with .* failed \\(alert 48 unknown_ca received\\)" \
  --to hq --retries 3 "$W/src/f1"
no_tls rogue12
grep -q '"side":"sender".*"alert":48,"alert_direction":"received","alert_name":"unknown_ca"' \
  "$W/send-audit.log" || xfer_fail "rogue 1.2: no audit line: $(cat "$W/send-audit.log")"
echo "ok: TLS 1.2 other CA: alert 48 unknown_ca, 1 attempt, audited"

# -- nobody listening: transient, every retry used
expect_send nobody "$W/send.conf" 2 3 true "" --to 127.0.0.1:1 --retries 2 "$W/src/f1"
echo "ok: connection refused: 3 attempts with --retries 2, retryable"

# -- a full disk: retried only after the delay
mkdir -p "$W/small"
mount -t tmpfs -o size=4m tmpfs "$W/small" || xfer_fail "cannot mount a tmpfs"
PORT2=$((PORT + 1))
sed -e "s|^listen = .*|listen = 127.0.0.1:$PORT2|" -e "s|^dir = .*|dir = $W/small|" \
  -e "s|^audit = .*|audit = $W/audit2.log|" -e "/^partner.acme.dir/d" "$W/recv.conf" >"$W/recv2.conf"
"$PKIE" recv --conf "$W/recv2.conf" 2>"$W/recv2.log" &
R2=$!
i=0
while ! grep -q "listening on" "$W/recv2.log"; do
  i=$((i + 1)); [ $i -lt 100 ] || xfer_fail "second receiver did not start"; sleep 0.1
done
mkfile full 8388608
t0=$(date +%s%N)
expect_send full "$W/send.conf" 2 2 true "XFER_DISK_FULL" --to 127.0.0.1:$PORT2 --retries 1 \
  --disk-full-delay 2 "$W/src/full"
dt=$((($(date +%s%N) - t0) / 1000000))
[ $dt -ge 2000 ] || xfer_fail "disk full retried after $dt ms, not after the 2 s delay"
grep -q '\.part\|\.state' "$W/full.json" && xfer_fail "the receiver's internal file named: $(cat "$W/full.json")"
kill -TERM $R2; wait $R2 || true
umount "$W/small"
echo "ok: full disk: retried once after $dt ms, retryable, no internal file named"
xfer_recv_stop
echo "transfer e2e retry: all passed"
