#!/bin/bash
# e2e: files of 0 B, 1 B, 1 MiB and 256 MiB arrive identical; 16 senders at
# once; the audit has one JSON line per transfer; the trace exit shows StartTask
# once per SSL task and the session phases in order for every session.
. "$(dirname "$0")/lib.sh"
xfer_setup
XFER_TASKS=4
xfer_recv_start

mkfile zero 0; mkfile one 1; mkfile mib 1048576; mkfile big 268435456
send "$W/src/zero" "$W/src/one" "$W/src/mib" "$W/src/big" --json >"$W/send.json" ||
  xfer_fail "pkie send exit $?: $(cat "$W/send.json")"
grep -q '"ok":true' "$W/send.json" || xfer_fail "summary not ok"
for f in zero one mib big; do
  cmp "$W/src/$f" "$W/in/$f" || xfer_fail "$f differs"
done
echo "ok: 0 B, 1 B, 1 MiB, 256 MiB identical"
rm -f "$W/in/big" "$W/src/big"

# 16 senders at once
send_parallel 16
echo "ok: 16 senders at once"

# a sender is refused an existing name: exit status 2, nothing overwritten
if send "$W/src/one" >/dev/null 2>"$W/exists.err"; then xfer_fail "existing file overwritten"; fi
grep -q XFER_EXISTS "$W/exists.err" || xfer_fail "no XFER_EXISTS: $(cat "$W/exists.err")"
echo "ok: existing file refused"

xfer_recv_stop
# audit: one line per transfer, with the peer and the global area
lines=$(grep -c '"result":"ok"' "$W/audit.log")
[ "$lines" -eq 20 ] || xfer_fail "audit: $lines ok lines, expected 20"
grep -q '"peer_subject":"CN=sender1,O=pkie e2e","peer_issuer":"CN=e2e Root,O=pkie e2e"' "$W/audit.log" ||
  xfer_fail "audit lacks the peer certificate"
grep -q '"global_area":"[0-9a-f]\{128\}"' "$W/audit.log" || xfer_fail "audit lacks the global area"
grep -q '"result":"refused".*XFER_EXISTS' "$W/audit.log" || xfer_fail "refusal not audited"
echo "ok: audit"

# trace: StartTask/EndTask once per SSL task 1..4; every session in phase order
awk -v tasks=$XFER_TASKS '
  BEGIN { split("StartHandshake GetCAList GetCertificate CryptData CheckCertificate HandshakeAlert HandshakeDone EndSession", ph, " ")
          for (i = 1; i <= 8; i++) rk[ph[i]] = i }
  function rank(p) { return (p in rk) ? rk[p] : 0 }
  { split($2, t, "="); task = t[2] }
  task == 0 { next }   # the runtime probe at startup
  $1 == "StartTask" { st[task]++; next }
  $1 == "EndTask" { et[task]++; next }
  { split($4, s, "="); id = task ":" s[2]; r = rank($1)
    if (r == 0) { print "unknown phase " $1; bad = 1 }
    if (!(id in last)) { if ($1 != "StartHandshake") { print "session " id " starts with " $1; bad = 1 }; n++ }
    else if (r < last[id]) { print "session " id ": " $1 " after rank " last[id]; bad = 1 }
    if (ended[id]) { print "session " id ": " $1 " after EndSession"; bad = 1 }
    if ($1 == "EndSession") ended[id] = 1
    if ($1 == "HandshakeDone") done[id] = 1
    last[id] = r }
  END {
    for (i = 1; i <= tasks; i++) if (st[i] != 1 || et[i] != 1) { print "task " i ": StartTask " st[i] + 0 " EndTask " et[i] + 0; bad = 1 }
    for (id in last) if (!ended[id] || !done[id]) { print "session " id " incomplete"; bad = 1 }
    if (n != 18) { print n " sessions, expected 18"; bad = 1 }
    print n " sessions checked"
    exit bad }' "$W/trace.log" || xfer_fail "trace order"
echo "ok: trace"
echo "transfer e2e basic: all passed"
