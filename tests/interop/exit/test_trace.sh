#!/bin/sh
# Interop: the trace exit's file shows every phase in order, with matching
# task and session references, for a server session, a refused server session
# and a client session (TLS 1.3), and for a TLS 1.2 server session.
. "$(dirname "$0")/lib.sh"
T=$W/trace.log
# shellcheck disable=SC2046
conf tr pki.type=exit "pki.exit.libpath=$EXITS/trace.so" "pki.exit.conf=$T" $(internal_keys)

server tr 3 --cert-id srv-ec --ca-id root
sclient tls1_3 cli-ec
sclient tls1_3 cli-other
sclient tls1_2 cli-rsa
server_wait || true
check "server: sessions 1 and 3 ok, 2 refused" sh -c \
  "grep -q 'session 1 ok' '$W/srv.out' && grep -q 'session 2 refused' '$W/srv.out' && grep -q 'session 3 ok' '$W/srv.out'"
cp "$T" "$W/server.trace"

# phases of a session, in order: PHASES FILE SESSION
phases() {
  awk -v s="$2" '{ split($4, a, "="); if (a[2] == s && $3 != "xtask=0") printf "%s ", $1 }' "$W/$1"
}
# every line of task 1 has xtask=1000001; every line of session N has xsession=(1<<32|N)
refs_ok() {
  awk '
    $2 == "task=1" && $3 != "xtask=1000001" { bad = 1 }
    $2 == "task=1" { split($4, a, "="); if (a[2] > 0 && $5 != "xsession=" sprintf("%.0f", 4294967296 + a[2])) bad = 1 }
    $2 == "task=1" { split($4, a, "="); split($6, c, "="); if (a[2] > 0) { n[a[2]]++; if (c[2] != n[a[2]]) bad = 1 } }
    END { exit bad }' "$W/$1"
}
first_last() { # the probe task 0, then task 1 from StartTask to EndTask
  [ "$(sed -n 1p "$W/$1" | cut -d' ' -f1-2)" = "StartTask task=0" ] &&
    [ "$(sed -n 2p "$W/$1" | cut -d' ' -f1-2)" = "EndTask task=0" ] &&
    [ "$(sed -n 3p "$W/$1" | cut -d' ' -f1-2)" = "StartTask task=1" ] &&
    [ "$(tail -n 1 "$W/$1" | cut -d' ' -f1-2)" = "EndTask task=1" ]
}
check "server trace: probe, StartTask first, EndTask last" first_last server.trace
check "server trace: task/session references match, calls count up" refs_ok server.trace
exp="StartHandshake GetCAList GetCertificate CryptData CheckCertificate HandshakeDone EndSession "
got=$(phases server.trace 1)
check "server TLS 1.3 session phases in order ($got)" test "$got" = "$exp"
exp="StartHandshake GetCAList GetCertificate CryptData CheckCertificate HandshakeAlert EndSession "
got=$(phases server.trace 2)
check "server refused session phases in order ($got)" test "$got" = "$exp"
check "refused session: alert 48 sent" grep -q "HandshakeAlert .*level=2 code=48 direction=sent" "$W/server.trace"
exp="StartHandshake GetCAList GetCertificate CryptData CheckCertificate HandshakeDone EndSession "
got=$(phases server.trace 3)
check "server TLS 1.2 session phases in order ($got)" test "$got" = "$exp"
check "StartHandshake inputs traced" grep -q "StartHandshake task=1 .* role=server .* cert_id=srv-ec ca_ids=1 ca=root depth=4" "$W/server.trace"
check "HandshakeDone inputs traced" grep -q "HandshakeDone .* version=0x0304 .* peer_count=1" "$W/server.trace"

# client
rm -f "$T"
sserver srv-ec -tls1_3
"$DRV" client --conf "$W/tr.conf" --port "$PORT" --cert-id cli-ec --ca-id root --sni localhost \
  --partner bank1 >"$W/cl.out" 2>&1 || true
sserver_wait
check "client session ok" has cl.out "session 1 ok"
cp "$T" "$W/client.trace"
check "client trace: probe, StartTask first, EndTask last" first_last client.trace
check "client trace: references match" refs_ok client.trace
exp="StartHandshake CheckCertificate GetCertificate CryptData HandshakeDone EndSession "
got=$(phases client.trace 1)
check "client TLS 1.3 session phases in order ($got)" test "$got" = "$exp"
check "client StartHandshake inputs (role, partner, sni)" \
  grep -q "StartHandshake .* role=client partner=bank1 .* sni=localhost" "$W/client.trace"
check "client GetCertificate sees the server's CA names" \
  grep -q "GetCertificate .* role=client ca_names=1" "$W/client.trace"

# client refused by the server: the alert it receives is traced
rm -f "$T"
sserver srv-ec -tls1_2 -CAfile "$P/other-root.crt" # (in TLS 1.3 the alert comes after the handshake)
"$DRV" client --conf "$W/tr.conf" --port "$PORT" --cert-id cli-ec --ca-id root \
  >"$W/cl.out" 2>&1 || true
sserver_wait
check "client refused by the server" has cl.out "session 1 refused"
cp "$T" "$W/client2.trace"
check "client trace: the received alert (48 unknown_ca)" \
  grep -q "HandshakeAlert .* level=2 code=48 direction=received" "$W/client2.trace"
got=$(phases client2.trace 1)
check "client refused: EndSession after the alert ($got)" test "${got##*HandshakeAlert }" = "EndSession "
finish
