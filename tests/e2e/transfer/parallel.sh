#!/bin/bash
# e2e: pkie send --parallel N. 20 files of 0 B .. 3 MiB sent over 4 sessions at
# once (a new session per file, then one kept session per worker) arrive
# identical; the sender's trace exit shows StartTask/EndTask once per worker
# (SSL task) and sessions that overlap; the `parallel` configuration key; bad
# values refused; files the receiver refuses among parallel ones fail alone
# (exit status 2, the others confirmed); a receiver killed under two parallel
# transfers: both resume after its restart.
. "$(dirname "$0")/lib.sh"
xfer_setup
xfer_recv_start

# the sender with the trace exit (it answers "not handled": the internal PKI
# base does the work) writing to $W/strace.log
sconf() { # CONF_NAME [EXTRA_LINE]
  cp "$W/send.conf" "$W/$1"
  printf 'pki.type = exit\npki.exit.libpath = %s\npki.exit.conf = %s\n%s\n' \
    "$TRACE_SO" "$W/strace.log" "${2:-}" >>"$W/$1"
}
sconf tsend.conf
tsend() { "$PKIE" send --conf "$W/tsend.conf" --to hq "$@"; }

# trace_check TASKS MIN_SESSIONS MAX_SESSIONS MIN_OVERLAP: StartTask and EndTask
# once for each task 1..TASKS and no other, every session complete, session
# count in range, at least MIN_OVERLAP sessions open at one time
trace_check() {
  awk -v tasks="$1" -v smin="$2" -v smax="$3" -v omin="$4" '
    { split($2, t, "="); task = t[2] }
    task == 0 { next }   # the runtime probe at startup
    $1 == "StartTask" { st[task]++; next }
    $1 == "EndTask" { et[task]++; next }
    { split($4, s, "="); id = task ":" s[2] }
    $1 == "StartHandshake" { n++; open_++; if (open_ > maxo) maxo = open_; seen[id] = 1 }
    $1 == "HandshakeDone" { done[id] = 1 }
    $1 == "EndSession" { open_--; ended[id] = 1 }
    END {
      for (k in st) if (k < 1 || k > tasks) { print "unexpected task " k; bad = 1 }
      for (i = 1; i <= tasks; i++) if (st[i] != 1 || et[i] != 1) { print "task " i ": StartTask " st[i] + 0 " EndTask " et[i] + 0; bad = 1 }
      for (id in seen) if (!done[id] || !ended[id]) { print "session " id " incomplete"; bad = 1 }
      if (n < smin || n > smax) { print n " sessions, expected " smin ".." smax; bad = 1 }
      if (maxo < omin) { print "at most " maxo " sessions open at once, expected " omin; bad = 1 }
      print n " sessions on " tasks " tasks, up to " maxo " at once"
      exit bad }' "$W/strace.log"
}

# 20 files: 0 B, 1 B, some KiB, a couple of MiB
sizes="0 1 2 100 1023 1024 4096 10000 65535 65536 65537 100000 262144 500000 1048575 1048576 1048577 2097152 3145735 12345"
files=
i=0
for s in $sizes; do
  i=$((i + 1))
  mkfile "f$i" "$s"
  files="$files $W/src/f$i"
done
checkall() {
  for j in $(seq 1 20); do cmp "$W/src/f$j" "$W/in/f$j" || xfer_fail "$1: f$j differs"; done
  [ -z "$(ls -A "$W/in" | grep '\.part$\|\.state$')" ] || xfer_fail "$1: partial files left"
}

# 1. four sessions at once, a new one for every file
: >"$W/strace.log"
# shellcheck disable=SC2086
tsend --parallel 4 --session-per-file --json $files >"$W/p4.json" 2>"$W/p4.err" ||
  xfer_fail "--parallel 4 --session-per-file: exit $?: $(cat "$W/p4.err")"
grep -q '"ok":true' "$W/p4.json" || xfer_fail "summary not ok: $(cat "$W/p4.json")"
[ "$(grep -o '"result":"confirmed"' "$W/p4.json" | wc -l)" -eq 20 ] || xfer_fail "not 20 confirmed"
grep -q '"tls_version":"TLSv1.3"' "$W/p4.json" || xfer_fail "no TLS version in the summary"
checkall "parallel 4, session per file"
trace_check 4 20 20 2 || xfer_fail "trace of --parallel 4 --session-per-file"
echo "ok: 20 files over 4 sessions at once, a session per file, StartTask once per task"

# 2. four workers keeping their session
rm -f "$W"/in/f*
: >"$W/strace.log"
# shellcheck disable=SC2086
tsend --parallel 4 --json $files >"$W/p4k.json" 2>"$W/p4k.err" ||
  xfer_fail "--parallel 4: exit $?: $(cat "$W/p4k.err")"
checkall "parallel 4"
trace_check 4 2 4 2 || xfer_fail "trace of --parallel 4"
echo "ok: 20 files over 4 kept sessions"

# 3. never more workers than files; the default is one session
rm -f "$W"/in/f1 "$W"/in/f2 "$W"/in/f3
: >"$W/strace.log"
tsend --parallel 8 "$W/src/f1" "$W/src/f2" >/dev/null 2>"$W/p8.err" || xfer_fail "--parallel 8: $(cat "$W/p8.err")"
# two workers (StartTask twice), one session each or, when one worker took both
# files before the other's task was up (a helper process starts per task), one
trace_check 2 1 2 1 || xfer_fail "trace of --parallel 8 with 2 files"
: >"$W/strace.log"
tsend "$W/src/f3" "$W/src/f4" --session-per-file >/dev/null 2>&1 || true # f4 exists: refused
trace_check 1 2 2 1 || xfer_fail "trace of the default (one session)"
echo "ok: workers bounded by the files; one session by default"

# 4. the configuration key
rm -f "$W"/in/f1 "$W"/in/f2 "$W"/in/f3 "$W"/in/f4
sconf tsend3.conf "parallel = 3"
: >"$W/strace.log"
"$PKIE" send --conf "$W/tsend3.conf" --to hq "$W"/src/f1 "$W"/src/f2 "$W"/src/f3 "$W"/src/f4 \
  --session-per-file >/dev/null 2>"$W/c3.err" || xfer_fail "parallel = 3: $(cat "$W/c3.err")"
trace_check 3 4 4 1 || xfer_fail "trace of parallel = 3"
checkall "parallel = 3"
: >"$W/strace.log"
rm -f "$W"/in/f1 "$W"/in/f2
"$PKIE" send --conf "$W/tsend3.conf" --to hq "$W"/src/f1 "$W"/src/f2 --parallel 1 \
  >/dev/null 2>"$W/c1.err" || xfer_fail "--parallel 1 over parallel = 3: $(cat "$W/c1.err")"
trace_check 1 1 1 1 || xfer_fail "--parallel 1 does not override parallel = 3"
sconf bad.conf "parallel = 65"
if "$PKIE" send --conf "$W/bad.conf" --to hq "$W/src/f1" >/dev/null 2>"$W/bad.err"; then
  xfer_fail "parallel = 65 accepted"
fi
grep -q "parallel" "$W/bad.err" || xfer_fail "parallel = 65: $(cat "$W/bad.err")"
echo "ok: parallel = N in the configuration, --parallel overrides it"

# 5. bad values: one line, status 1, nothing sent
for v in 0 65 x -1 4x ""; do
  set +e
  send --parallel "$v" "$W/src/f5" >"$W/bad.out" 2>"$W/bad.err"
  st=$?
  set -e
  [ $st -eq 1 ] || xfer_fail "--parallel '$v': status $st"
  [ "$(wc -l <"$W/bad.err")" -eq 1 ] || xfer_fail "--parallel '$v': $(cat "$W/bad.err")"
  grep -q -- "--parallel '$v'" "$W/bad.err" || xfer_fail "--parallel '$v': $(cat "$W/bad.err")"
done
set +e
send "$W/src/f5" --parallel >/dev/null 2>"$W/bad.err"
st=$?
set -e
[ $st -eq 1 ] && grep -q -- "--parallel" "$W/bad.err" || xfer_fail "--parallel without a value: $st"
"$PKIE" send --help | grep -q -- "--parallel N" || xfer_fail "--help lacks --parallel"
echo "ok: --parallel 0, 65, x, -1, 4x, '' and a missing value refused with status 1"

# 6. refused files among parallel ones: they fail alone, the others arrive
for n in 1 2 3 4 5 6 7; do mkfile "g$n" $((n * 30000)); done
mkfile .hidden 10
echo "kept" >"$W/in/g4"
set +e
send --parallel 3 --json "$W"/src/g1 "$W"/src/g2 "$W"/src/g3 "$W"/src/g4 "$W"/src/.hidden \
  "$W"/src/g5 "$W"/src/g6 "$W"/src/g7 >"$W/g.json" 2>"$W/g.err"
st=$?
set -e
[ $st -eq 2 ] || xfer_fail "refused files among parallel ones: status $st: $(cat "$W/g.err")"
grep -q '"ok":false' "$W/g.json" || xfer_fail "summary ok with refused files"
[ "$(grep -o '"result":"confirmed"' "$W/g.json" | wc -l)" -eq 6 ] || xfer_fail "not 6 confirmed: $(cat "$W/g.json")"
grep -q '"name":"g4",[^}]*"result":"failed"[^}]*XFER_EXISTS' "$W/g.json" ||
  xfer_fail "g4 not refused as existing: $(cat "$W/g.json")"
grep -q '"name":".hidden",[^}]*"result":"failed"[^}]*XFER_NAME' "$W/g.json" ||
  xfer_fail ".hidden not refused: $(cat "$W/g.json")"
for n in 1 2 3 5 6 7; do cmp "$W/src/g$n" "$W/in/g$n" || xfer_fail "g$n differs"; done
[ "$(cat "$W/in/g4")" = kept ] || xfer_fail "g4 overwritten"
echo "ok: refused files fail alone (status 2), the 6 others confirmed"

# 7. the receiver killed under two parallel transfers: both resume
rm -rf "$W/state/send" # the ids of the refused files of 6 stay until confirmed
SIZE=134217728
mkfile r1 $SIZE
mkfile r2 $((SIZE + 4097))
partial_size() {
  f=$(ls -A "$W/in" | grep "^\.$1\..*\.part$" | head -1)
  [ -n "$f" ] && stat -c %s "$W/in/$f" 2>/dev/null || echo 0
}
send --parallel 2 --retries 30 --json "$W/src/r1" "$W/src/r2" >"$W/r.json" 2>"$W/r.err" &
spid=$!
i=0
while [ "$(partial_size r1)" -lt 25165824 ] || [ "$(partial_size r2)" -lt 25165824 ]; do
  i=$((i + 1))
  [ $i -lt 3000 ] || xfer_fail "parallel partials never reached 24 MiB"
  sleep 0.01
done
kill -9 "$RECV_PID"
wait "$RECV_PID" 2>/dev/null || true
RECV_PID=
xfer_recv_start
wait $spid || xfer_fail "parallel senders failed after the restart: $(cat "$W/r.err")"
cmp "$W/src/r1" "$W/in/r1" || xfer_fail "r1 differs after resume"
cmp "$W/src/r2" "$W/in/r2" || xfer_fail "r2 differs after resume"
for n in r1 r2; do
  off=$(grep -o "\"name\":\"$n\",[^}]*" "$W/r.json" | sed -n 's/.*"resume_offset":\([0-9]*\).*/\1/p')
  [ "${off:-0}" -gt 0 ] || xfer_fail "$n did not resume: $(cat "$W/r.json")"
done
[ -z "$(ls -A "$W/state/send" 2>/dev/null)" ] || xfer_fail "sender state not cleared"
echo "ok: receiver killed under 2 parallel transfers, both resumed"
xfer_recv_stop

# 8. no receiver: every session gives up, the last one fails the files nobody
# took with the same error; status 2
set +e
send --parallel 3 --retries 1 --json "$W"/src/f1 "$W"/src/f2 "$W"/src/f3 "$W"/src/f4 "$W"/src/f5 \
  >"$W/down.json" 2>"$W/down.err"
st=$?
set -e
[ $st -eq 2 ] || xfer_fail "no receiver: status $st"
[ "$(grep -o '"result":"failed","sha256":null,"error":"[^"]*Connection refused' "$W/down.json" | wc -l)" -eq 5 ] ||
  xfer_fail "no receiver: not 5 files failed with the connection error: $(cat "$W/down.json")"
echo "ok: no receiver, the 5 files failed with the connection error"
echo "transfer e2e parallel: all passed"
