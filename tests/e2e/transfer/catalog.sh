#!/bin/bash
# e2e: the transfer catalog (docs/catalog.md) on both sides after a mix of
# outcomes: ok; refused at the handshake (a certificate of another CA);
# refused at FILE (the name exists); a sender killed mid-file, then resent
# (one record, two sessions); the receiver stopped mid-file (SIGTERM), the
# sender resuming after its restart (interrupted on both sides, then ok); a
# hash mismatch (xfer_rawclient badhash). `pkie catalog list --json` must
# match the audit lines and the senders' --json summaries field by field;
# then show, the CLI's errors and purge; then the startup replay after a
# kill -9 within the writer's commit delay.
. "$(dirname "$0")/lib.sh"
RAW=$BUILD/tests/xfer_rawclient
[ -x "$RAW" ] || xfer_fail "missing $RAW"
XFER_CHECKPOINT=8388608
xfer_setup
# the shipped defaults: each catalog beside its configuration
RCAT=$W/recv.catalog
SCAT=$W/send.catalog
xfer_recv_start
[ -f "$RCAT" ] || xfer_fail "receiver catalog not created beside recv.conf"
[ "$(stat -c %a "$RCAT")" = 640 ] || xfer_fail "catalog mode $(stat -c %a "$RCAT"), expected 640"

wait_partial() { # NAME MIN_BYTES
  i=0
  while [ "$(partial_size "$1")" -lt "$2" ]; do
    i=$((i + 1))
    [ $i -lt 3000 ] || xfer_fail "partial of $1 never reached $2 bytes"
    sleep 0.01
  done
}
# wait_log PATTERN: until the receiver's log holds PATTERN
wait_log() {
  i=0
  until grep -q "$1" "$RECV_LOG"; do
    i=$((i + 1))
    [ $i -lt 3000 ] || xfer_fail "the receiver never logged $1"
    sleep 0.01
  done
}

# 1. ok
mkfile ok1 5000
send "$W/src/ok1" --json >"$W/ok1.json" 2>"$W/ok1.err" || xfer_fail "ok1: $(cat "$W/ok1.err")"
[ -f "$SCAT" ] || xfer_fail "sender catalog not created beside send.conf"
# 2. refused at the handshake: a certificate of another CA (rogue.conf: its own catalog)
"$PKIE" send --conf "$W/rogue.conf" --to hq "$W/src/ok1" --retries 0 >/dev/null 2>&1 &&
  xfer_fail "rogue sender accepted"
# 3. refused at FILE: ok1 exists
send "$W/src/ok1" --json --retries 0 >"$W/exists.json" 2>/dev/null && xfer_fail "ok1 accepted twice"
# 4. the sender killed mid-file, then the same file sent again: one record
SIZE=268435456
mkfile big $SIZE
"$PKIE" send --conf "$W/send.conf" --to hq "$W/src/big" --retries 0 >/dev/null 2>&1 &
spid=$!
wait_partial big 33554432
kill -9 $spid
wait $spid 2>/dev/null || true
wait_log "big interrupted"
send "$W/src/big" --json >"$W/big.json" 2>"$W/big.err" || xfer_fail "big rerun: $(cat "$W/big.err")"
cmp "$W/src/big" "$W/in/big" || xfer_fail "big differs"
# 5. the receiver stopped (SIGTERM) mid-file: the sender's session is interrupted,
# it retries and resumes after the restart
mkfile big2 $SIZE
send "$W/src/big2" --json --retries 60 >"$W/big2.json" 2>"$W/big2.err" &
spid=$!
wait_partial big2 16777216
xfer_recv_stop
xfer_recv_start
wait $spid || xfer_fail "big2: $(cat "$W/big2.err")"
cmp "$W/src/big2" "$W/in/big2" || xfer_fail "big2 differs"
# 6. a hash mismatch
"$RAW" "$W/send.conf" "$PORT" badhash >"$W/raw.out" 2>&1 || { cat "$W/raw.out" >&2; xfer_fail "badhash"; }
xfer_recv_stop
echo "ok: outcomes made (ok, refused x2, interrupted + resumed x2, hash mismatch)"

"$PKIE" catalog list --conf "$W/recv.conf" --json >"$W/recv.cat.json" || xfer_fail "catalog list (recv)"
"$PKIE" catalog list --conf "$W/send.conf" --json >"$W/send.cat.json" || xfer_fail "catalog list (send)"
"$PKIE" catalog list --conf "$W/rogue.conf" --json >"$W/rogue.cat.json" || xfer_fail "catalog list (rogue)"

# the receiver's records against its audit lines, the senders' against their summaries
python3 - "$W" <<'PY' || xfer_fail "catalog records do not match (above)"
import json, sys
W = sys.argv[1]
audit = [json.loads(l) for l in open(W + "/audit.log", encoding="utf-8", errors="surrogateescape")]
recv = json.load(open(W + "/recv.cat.json"))
send = json.load(open(W + "/send.cat.json"))
rogue = json.load(open(W + "/rogue.cat.json"))
bad = []
def want(cond, what):
    if not cond:
        bad.append(what)
keys = ["id", "direction", "partner", "peer_subject", "peer_serial", "file", "size", "bytes",
        "resume_offsets", "started", "ended", "result", "error", "sha256", "tls_version",
        "cipher", "global_area"]
for r in recv + send + rogue:
    want(list(r) == keys, "keys of %s: %s" % (r.get("id"), list(r)))
# receiver: one record per transfer id, sessions in audit order
files = [a for a in audit if a.get("transfer_id")]
tids = []
for a in files:
    if a["transfer_id"] not in tids:
        tids.append(a["transfer_id"])
byid = {r["id"]: r for r in recv if not r["id"].startswith("session-")}
want(sorted(byid) == sorted(tids), "receiver ids %s vs audit %s" % (sorted(byid), sorted(tids)))
for t in tids:
    lines = [a for a in files if a["transfer_id"] == t]
    r = byid.get(t)
    if r is None:
        continue
    last = lines[-1]
    for k in ("file", "size", "sha256", "partner", "peer_subject", "peer_serial", "result",
              "error", "tls_version", "cipher", "global_area"):
        want(r[k] == last[k], "receiver %s %s: %r vs audit %r" % (t, k, r[k], last[k]))
    want(r["direction"] == "in", "receiver %s direction %s" % (t, r["direction"]))
    want(r["bytes"] == [a["bytes"] for a in lines], "receiver %s bytes %s" % (t, r["bytes"]))
    want(r["resume_offsets"] == [a["resume_offset"] for a in lines],
         "receiver %s resume_offsets %s" % (t, r["resume_offsets"]))
    want(r["started"] <= r["ended"], "receiver %s started after ended" % t)
def rec(cat, name):
    return [r for r in cat if r["file"] == name]
# what happened, on the receiver
ok1 = rec(recv, "ok1")
want([r["result"] for r in ok1] == ["ok", "refused"], "receiver ok1: %s" % ok1)
want(ok1 and ok1[-1]["error"].startswith("XFER_EXISTS"), "receiver ok1 refusal: %s" % ok1)
big = rec(recv, "big")
want(len(big) == 1 and big[0]["result"] == "ok" and len(big[0]["bytes"]) == 2 and
     big[0]["resume_offsets"][0] == 0 and big[0]["resume_offsets"][1] > 0 and
     big[0]["resume_offsets"][1] + big[0]["bytes"][1] == big[0]["size"] == 268435456,
     "receiver big (sender killed, resent): %s" % big)
big2 = rec(recv, "big2")
want(len(big2) == 1 and big2[0]["result"] == "ok" and len(big2[0]["bytes"]) == 2 and
     big2[0]["resume_offsets"][1] > 0, "receiver big2 (receiver stopped): %s" % big2)
bh = rec(recv, "raw-badhash.txt")
want(len(bh) == 1 and bh[0]["result"] == "failed" and bh[0]["error"].startswith("XFER_HASH") and
     bh[0]["id"] == "61" * 16 and bh[0]["sha256"] is None, "receiver badhash: %s" % bh)
# refused handshakes: one record each, as the audit's refusal lines
refl = [a for a in audit if a.get("event") == "refused"]
refr = [r for r in recv if r["id"].startswith("session-")]
want(len(refl) == 1 and len(refr) == 1, "refusals: audit %d, catalog %d" % (len(refl), len(refr)))
for a, r in zip(refl, refr):
    for k in ("peer_subject", "peer_serial", "error", "partner", "result"):
        want(r[k] == a[k], "refusal %s: %r vs audit %r" % (k, r[k], a[k]))
    want(r["file"] is None and r["bytes"] == [] and r["direction"] == "in", "refusal: %s" % r)
# the sender's records against its --json summaries
def summary(name):
    return json.load(open("%s/%s.json" % (W, name)))["files"][0]
s_ok1 = rec(send, "ok1")
want([r["result"] for r in s_ok1] == ["ok", "refused"], "sender ok1: %s" % s_ok1)
j = summary("ok1")
if s_ok1:
    r = s_ok1[0]
    want(r["sha256"] == j["sha256"] and r["size"] == j["size"] == 5000 and
         r["bytes"] == [j["bytes_sent"]] and r["resume_offsets"] == [0] and
         r["direction"] == "out" and r["partner"] == "hq" and
         r["peer_subject"] == "CN=receiver,O=pkie e2e", "sender ok1 record: %s / %s" % (r, j))
    want(r["id"] == byid.get(r["id"], {}).get("id"), "sender ok1 id not the receiver's")
s_big = rec(send, "big")
j = summary("big")
want(len(s_big) == 1 and s_big[0]["result"] == "ok" and s_big[0]["bytes"] == [j["bytes_sent"]] and
     s_big[0]["resume_offsets"] == [j["resume_offset"]] and j["resume_offset"] > 0 and
     s_big[0]["sha256"] == j["sha256"] and s_big[0]["id"] == big[0]["id"],
     "sender big: %s / %s" % (s_big, j))
s_big2 = rec(send, "big2")
j = summary("big2")
want(len(s_big2) == 1 and s_big2[0]["result"] == "ok" and len(s_big2[0]["bytes"]) >= 2 and
     s_big2[0]["resume_offsets"][-1] == j["resume_offset"] > 0 and
     s_big2[0]["bytes"][-1] == j["bytes_sent"] and s_big2[0]["id"] == big2[0]["id"],
     "sender big2 (interrupted, then resumed): %s / %s" % (s_big2, j))
# the interrupted session on the sender's side: bytes sent before the cut
want(len(s_big2) == 1 and s_big2[0]["bytes"][0] > 0, "sender big2 first session: %s" % s_big2)
# the rogue sender's refused handshake
want(len(rogue) == 1 and rogue[0]["result"] == "refused" and rogue[0]["direction"] == "out" and
     rogue[0]["id"].startswith("session-"), "rogue sender: %s" % rogue)
for b in bad:
    print("MISMATCH:", b)
sys.exit(1 if bad else 0)
PY
echo "ok: catalog records match the audit lines and the senders' summaries"

# show: one object, the same as in the list; text form; unknown id: status 3
id=$(python3 -c 'import json,sys; print([r for r in json.load(open(sys.argv[1])) if r["file"] == "big"][0]["id"])' "$W/recv.cat.json")
"$PKIE" catalog show --conf "$W/recv.conf" "$id" --json >"$W/show.json" || xfer_fail "catalog show"
python3 - "$W" "$id" <<'PY' || xfer_fail "show differs from list"
import json, sys
W, i = sys.argv[1], sys.argv[2]
one = json.load(open(W + "/show.json"))
assert isinstance(one, dict), one
assert one == [r for r in json.load(open(W + "/recv.cat.json")) if r["id"] == i][0], one
PY
"$PKIE" catalog show --conf "$W/recv.conf" "$id" | grep -q "^result *ok$" || xfer_fail "show (text)"
"$PKIE" catalog list --conf "$W/recv.conf" --result refused | grep -q "ok1" || xfer_fail "list --result"
[ "$("$PKIE" catalog list --conf "$W/recv.conf" --partner nobody --json)" = "[]" ] ||
  xfer_fail "list --partner nobody not empty"
set +e
"$PKIE" catalog show --conf "$W/recv.conf" 00000000000000000000000000000000 2>"$W/e.txt"; st=$?
[ $st -eq 3 ] && grep -q "no record with id" "$W/e.txt" || xfer_fail "unknown id: status $st $(cat "$W/e.txt")"
"$PKIE" catalog list --conf "$W/recv.conf" --since 3x 2>"$W/e.txt"; st=$?
[ $st -eq 1 ] && grep -q "unit must be" "$W/e.txt" || xfer_fail "bad TIME: status $st $(cat "$W/e.txt")"
printf 'catalog = %s\n' "$W/nothing.db" >"$W/missing.conf"
"$PKIE" catalog list --conf "$W/missing.conf" 2>"$W/e.txt"; st=$?
[ $st -eq 2 ] && grep -q "does not exist" "$W/e.txt" || xfer_fail "missing catalog: status $st $(cat "$W/e.txt")"
[ ! -e "$W/nothing.db" ] || xfer_fail "list created a catalog"
set -e
echo "ok: show, filters and the CLI's errors"

# purge: nothing ended before a day ago; everything ended before now
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$W/recv.cat.json")
"$PKIE" catalog purge --conf "$W/recv.conf" --before 1d | grep -q "purged 0 record" || xfer_fail "purge 1d"
[ "$("$PKIE" catalog list --conf "$W/recv.conf" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$n" ] ||
  xfer_fail "purge 1d removed records"
sleep 0.01
"$PKIE" catalog purge --conf "$W/recv.conf" --before "$(date -u -d '+1 min' +%Y-%m-%dT%H:%M:%SZ)" |
  grep -q "purged $n record" || xfer_fail "purge before a minute from now"
[ "$("$PKIE" catalog list --conf "$W/recv.conf" --json)" = "[]" ] || xfer_fail "records left after purge"
echo "ok: purge"

# a line appended while the receiver is down that is no audit line: the
# startup replay counts it and says so, once
echo '{"result":"ok","note":"not an audit line"}' >>"$W/audit.log"
xfer_recv_start
grep -q "1 audit line(s) after offset .* could not be read back into the catalog" "$RECV_LOG" ||
  xfer_fail "the startup replay did not report the bad line"
# (a transfer before each stop: the SSL tasks are up, so SIGTERM is a clean stop)
mkfile after1 100
send "$W/src/after1" >/dev/null || xfer_fail "after1"
xfer_recv_stop
xfer_recv_start
grep -q "could not be read back\|replayed" "$RECV_LOG" && xfer_fail "the startup replay ran twice"
mkfile after2 100
send "$W/src/after2" >/dev/null || xfer_fail "after2"
# kill -9 right after transfers: their rows are still queued (committed up to
# 100 ms later), the audit lines are written; the restart replays them. The
# kill may miss the window on a loaded machine: up to six rounds, one must
# hit it, and every round must end with a row for every audit line.
hit=0
for round in 1 2 3 4 5 6; do
  names=
  for i in 1 2 3 4 5 6; do
    mkfile "crash$round-$i" 100
    names="$names $W/src/crash$round-$i"
  done
  # shellcheck disable=SC2086
  send $names >/dev/null || xfer_fail "crash round $round: send"
  kill -9 "$RECV_PID"
  wait "$RECV_PID" 2>/dev/null || true
  RECV_PID=
  xfer_recv_start
  if grep -q "replayed [0-9]* audit line(s) into the catalog" "$RECV_LOG"; then
    hit=1
    echo "ok: round $round's kill -9 came within the commit delay (rows replayed)"
  fi
  "$PKIE" catalog list --conf "$W/recv.conf" --json >"$W/crash.cat.json" ||
    xfer_fail "catalog list after the crash"
  python3 - "$W" "$round" <<'PY' || xfer_fail "rows missing after kill -9 (round $round)"
import json, sys
W, rnd = sys.argv[1], sys.argv[2]
audit = [json.loads(l) for l in open(W + "/audit.log", encoding="utf-8", errors="surrogateescape")
         if l.startswith('{"time"')]
cat = json.load(open(W + "/crash.cat.json"))
byid = {r["id"]: r for r in cat}
bad = 0
for a in audit:
    if not str(a.get("file", "")).startswith("crash" + rnd + "-"):
        continue
    r = byid.get(a["transfer_id"])
    if r is None or r["result"] != "ok" or r["bytes"] != [a["bytes"]] or r["file"] != a["file"] \
            or r["sha256"] != a["sha256"] or r["ended"] != a["time"]:
        print("MISSING/WRONG:", a, r)
        bad += 1
n = sum(1 for a in audit if str(a.get("file", "")).startswith("crash" + rnd + "-"))
if n != 6:
    print("audit lines of round", rnd, ":", n)
    bad += 1
sys.exit(1 if bad else 0)
PY
  [ $hit = 1 ] && break
done
[ $hit = 1 ] || xfer_fail "kill -9 never came within the 100 ms window in six rounds"
mkfile after3 100
send "$W/src/after3" >/dev/null || xfer_fail "after3"
xfer_recv_stop
# a catalog in the destination directory is refused at startup
cp "$W/recv.conf" "$W/recv.good.conf"
echo "catalog = $W/in/./x.catalog" >>"$W/recv.conf"
set +e
"$PKIE" recv --conf "$W/recv.conf" 2>"$W/e.txt"; st=$?
set -e
[ $st -ne 0 ] && grep -q "lies in the destination directory" "$W/e.txt" ||
  xfer_fail "catalog in the destination accepted: status $st $(cat "$W/e.txt")"
[ ! -e "$W/in/x.catalog" ] || xfer_fail "catalog created in the destination"
cp "$W/recv.good.conf" "$W/recv.conf"
echo "ok: startup replay of the audit file (bad line, kill -9 within the commit delay); catalog in the destination refused"
echo "transfer e2e catalog: all passed"
