#!/bin/bash
# e2e: per-partner inbound directories and name patterns (partner.NAME.dir,
# partner.NAME.names). Two partners, acme (default directory DIR/acme) and
# branch (DIR/branch, names "*.csv, in-??.dat"): each one's files land in its
# own directory, created 0750 at start; the same name from both lands twice,
# also while the other's transfer of it is partial and while both send at
# once; a name outside branch's patterns is refused at FILE with XFER_DENIED
# (the sender sees it, the audit records it, nothing is written, the session
# carries the next file); `pkie recv --partials` lists each partner's
# partials. Then the start-up refusals: a partner directory that is a
# symbolic link, a file or writable by others, and patterns with classes.
. "$(dirname "$0")/lib.sh"
xfer_setup
mkcert branch "/O=pkie e2e/CN=branch" root
pki branch.db init
pki branch.db import --id root --type root --cert "$W/pki/root.crt"
pki branch.db import --kdf-iter 10000 --id me --type user --cert "$W/pki/branch.crt" --key "$W/pki/branch.key"
sed -e "s|$W/send.db|$W/branch.db|" -e "s|state/send|state/branch|" "$W/send.conf" >"$W/branch.conf"
# acme: the default directory (lib.sh gives it the shared one: removed here)
sed -i '/^partner.acme.dir/d' "$W/recv.conf"
cat >>"$W/recv.conf" <<CONF
partner.branch.subject = CN=branch,O=pkie e2e
partner.branch.names = *.csv, in-??.dat
CONF
A=$W/in/acme
B=$W/in/branch
[ ! -e "$A" ] && [ ! -e "$B" ] || xfer_fail "partner directories exist before the start"
umask 022
xfer_recv_start
for d in "$A" "$B"; do
  [ -d "$d" ] && [ ! -L "$d" ] || xfer_fail "$d not created"
  [ "$(stat -c %a "$d")" = 750 ] || xfer_fail "$d has mode $(stat -c %a "$d"), not 750"
done
echo "ok: DIR/acme and DIR/branch created 0750 at start"

sendb() { "$PKIE" send --conf "$W/branch.conf" --to hq "$@"; }
partials() { "$PKIE" recv --conf "$W/recv.conf" --partials "$@"; }
mkdir -p "$W/srca" "$W/srcb"
# mk DIR NAME SIZE: a file of NAME in DIR, content depending on DIR too
mk() { mkfile "$2.$(basename "$1")" "$3" && mv "$W/src/$2.$(basename "$1")" "$1/$2"; }
# partial WHO NAME: start WHO sending NAME (its 128 MiB source), kill -9 the
# sender once its partial file exists in directory $3, wait until released
partial() {
  # pkie itself in the background (a function would run in a subshell: the
  # kill would miss it)
  if [ "$1" = acme ]; then _c=$W/send.conf _s=$W/srca; else _c=$W/branch.conf _s=$W/srcb; fi
  "$PKIE" send --conf "$_c" --to hq "$_s/$2" --retries 0 >/dev/null 2>&1 &
  _p=$!
  _i=0
  while [ -z "$(ls -A "$3" | grep "^\.$2\..*\.part$")" ]; do
    _i=$((_i + 1)); [ $_i -lt 3000 ] || xfer_fail "no partial file of $2 in $3"; sleep 0.01
  done
  # then until a checkpoint made some of it durable (the listing's DURABLE),
  # so that a resume starts past 0 (killed at once, it once resumed at 0)
  _i=0
  until partials 2>/dev/null | awk -v n="$2" -v who="$1" \
    '$NF == n && $6 == who && $3 > 0 { f = 1 } END { exit !f }'; do
    _i=$((_i + 1)); [ $_i -lt 1500 ] || xfer_fail "no durable part of $2 in $3: $(partials)"
    kill -0 $_p 2>/dev/null || xfer_fail "the sender of $2 ended before a checkpoint"
    sleep 0.01
  done
  kill -9 $_p; wait $_p 2>/dev/null || true
  _i=0
  until partials | grep -q " $1 *idle *$2\$"; do
    _i=$((_i + 1)); [ $_i -lt 600 ] || xfer_fail "partial of $2 not released: $(partials)"; sleep 0.1
  done
}

# -- each partner's files in its own directory
mk "$W/srca" notes.txt 1000
mk "$W/srcb" daily.csv 70000
send "$W/srca/notes.txt" >/dev/null 2>"$W/a1.err" || xfer_fail "acme: $(cat "$W/a1.err")"
sendb "$W/srcb/daily.csv" >/dev/null 2>"$W/b1.err" || xfer_fail "branch: $(cat "$W/b1.err")"
cmp "$W/srca/notes.txt" "$A/notes.txt" || xfer_fail "acme's notes.txt differs"
cmp "$W/srcb/daily.csv" "$B/daily.csv" || xfer_fail "branch's daily.csv differs"
[ "$(ls -A "$W/in" | sort | tr '\n' ' ')" = "acme branch " ] ||
  xfer_fail "something else in DIR: $(ls -A "$W/in")"
[ "$(ls -A "$A")" = notes.txt ] && [ "$(ls -A "$B")" = daily.csv ] ||
  xfer_fail "a file elsewhere: acme: $(ls -A "$A"), branch: $(ls -A "$B")"
echo "ok: each partner's file in its own directory, nothing in DIR"

# -- the same name while the other's transfer of it is partial
mk "$W/srca" orders.csv 134217728
mk "$W/srcb" orders.csv 3000000
partial acme orders.csv "$A"
id_a=$(partials | awk '$NF == "orders.csv" && $6 == "acme" {print $1}')
[ ${#id_a} -eq 32 ] || xfer_fail "acme's partial not listed: $(partials)"
sendb "$W/srcb/orders.csv" --json >"$W/b2.json" 2>"$W/b2.err" ||
  xfer_fail "branch's orders.csv refused while acme's is partial: $(cat "$W/b2.json" "$W/b2.err")"
cmp "$W/srcb/orders.csv" "$B/orders.csv" || xfer_fail "branch's orders.csv differs"
[ ! -e "$A/orders.csv" ] || xfer_fail "acme's orders.csv complete before its resume"
echo "ok: branch's orders.csv delivered while acme's is partial"

# -- the partials listing: per partner, and --partner
mk "$W/srcb" other.csv 134217728
partial branch other.csv "$B"
partials >"$W/list.txt"
head -1 "$W/list.txt" | grep -q "PARTNER *STATE *NAME$" || xfer_fail "header: $(head -1 "$W/list.txt")"
grep -q "^$id_a .* acme *idle *orders.csv\$" "$W/list.txt" || xfer_fail "listing: $(cat "$W/list.txt")"
id_b=$(awk '$NF == "other.csv" && $6 == "branch" {print $1}' "$W/list.txt")
[ ${#id_b} -eq 32 ] || xfer_fail "branch's partial not listed: $(cat "$W/list.txt")"
[ "$(grep -c ' idle ' "$W/list.txt")" -eq 2 ] || xfer_fail "listing: $(cat "$W/list.txt")"
partials --partner branch | grep -q "orders.csv" && xfer_fail "--partner branch lists acme's partial"
partials --partner branch | grep -q "^$id_b " || xfer_fail "--partner branch: $(partials --partner branch)"
partials --partner nobody >/dev/null 2>"$W/nobody.err" && xfer_fail "--partner nobody accepted"
grep -q "no partner nobody" "$W/nobody.err" || xfer_fail "--partner nobody: $(cat "$W/nobody.err")"
partials --remove "$id_b" | grep -q "removed $id_b" || xfer_fail "--remove $id_b failed"
[ -z "$(ls -A "$B" | grep '^\.other\.csv\.')" ] || xfer_fail "branch's partial left: $(ls -A "$B")"
[ -n "$(ls -A "$A" | grep '^\.orders\.csv\.')" ] || xfer_fail "acme's partial removed too"
echo "ok: partials listed per partner (--partner filters), --remove in the right directory"

# acme's transfer resumes and completes in its own directory
send "$W/srca/orders.csv" --json >"$W/a2.json" 2>"$W/a2.err" || xfer_fail "acme resume: $(cat "$W/a2.err")"
grep -q '"resume_offset":[1-9]' "$W/a2.json" || xfer_fail "acme did not resume: $(cat "$W/a2.json")"
cmp "$W/srca/orders.csv" "$A/orders.csv" || xfer_fail "acme's orders.csv differs"
cmp "$W/srcb/orders.csv" "$B/orders.csv" || xfer_fail "branch's orders.csv changed"
echo "ok: acme's orders.csv resumed into its directory; both copies intact"

# -- both send the same name at once
mk "$W/srca" both.csv 33554432
mk "$W/srcb" both.csv 33554433
send "$W/srca/both.csv" >/dev/null 2>"$W/a3.err" &
pa=$!
sendb "$W/srcb/both.csv" >/dev/null 2>"$W/b3.err" &
pb=$!
wait $pa || xfer_fail "acme's both.csv: $(cat "$W/a3.err")"
wait $pb || xfer_fail "branch's both.csv: $(cat "$W/b3.err")"
cmp "$W/srca/both.csv" "$A/both.csv" || xfer_fail "acme's both.csv differs"
cmp "$W/srcb/both.csv" "$B/both.csv" || xfer_fail "branch's both.csv differs"
echo "ok: the same name from both partners at once: two files, each its own"

# -- a name outside branch's patterns: XFER_DENIED at FILE, then the next file
mk "$W/srcb" secret.txt 5000
mk "$W/srcb" in-07.dat 5000
st=0
sendb "$W/srcb/secret.txt" "$W/srcb/in-07.dat" --json --retries 3 >"$W/b4.json" 2>"$W/b4.err" || st=$?
[ $st -eq 2 ] || xfer_fail "branch: exit $st: $(cat "$W/b4.json" "$W/b4.err")"
grep -q '"name":"secret.txt",.*"attempts":1,"result":"failed","sha256":null,"error":"XFER_DENIED: .*secret.txt is not among the names this partner may send' "$W/b4.json" ||
  xfer_fail "secret.txt not refused with XFER_DENIED: $(cat "$W/b4.json")"
grep -q '"name":"secret.txt",.*"retryable":false' "$W/b4.json" || xfer_fail "refusal retryable: $(cat "$W/b4.json")"
grep -q '"name":"in-07.dat",[^}]*"result":"confirmed"' "$W/b4.json" ||
  xfer_fail "in-07.dat after the refusal: $(cat "$W/b4.json")"
cmp "$W/srcb/in-07.dat" "$B/in-07.dat" || xfer_fail "in-07.dat differs"
grep -q '"partner":"branch".*"file":"secret.txt".*"result":"refused","error":"XFER_DENIED: ' "$W/audit.log" ||
  xfer_fail "no audit line for the refusal: $(grep secret "$W/audit.log")"
[ -z "$(find "$W/in" -name '*secret*')" ] || xfer_fail "secret.txt written: $(find "$W/in" -name '*secret*')"
grep -q "session from .* ended: 1 file(s) received, 1 failed" "$RECV_LOG" ||
  xfer_fail "the refusal ended the session"
# acme has no patterns: any valid name
mk "$W/srca" secret.txt 10
send "$W/srca/secret.txt" >/dev/null 2>"$W/a4.err" || xfer_fail "acme's secret.txt: $(cat "$W/a4.err")"
[ -f "$A/secret.txt" ] || xfer_fail "acme's secret.txt missing"
echo "ok: branch's secret.txt refused (XFER_DENIED, not retried, audited, nothing written); in-07.dat went on in the session"

xfer_recv_stop
# the audit names the partner of every file it recorded
[ "$(grep -c '"partner":"branch".*"file":"\(daily\|orders\|both\).csv".*"result":"ok"' "$W/audit.log")" -eq 3 ] ||
  xfer_fail "audit of branch's files: $(grep branch "$W/audit.log")"

# -- start-up refusals (pkie recv exits 1 with the reason; --check says the same)
refused() { # WHAT: pkie recv must refuse to start, saying WHAT
  "$PKIE" recv --conf "$W/recv.conf" >"$W/start.out" 2>&1 && xfer_fail "started despite: $1"
  grep -q "$1" "$W/start.out" || xfer_fail "start refused without '$1': $(cat "$W/start.out")"
  "$PKIE" recv --conf "$W/recv.conf" --check >"$W/check.out" 2>&1 && xfer_fail "--check passed despite: $1"
  grep -q "$1" "$W/check.out" || xfer_fail "--check without '$1': $(cat "$W/check.out")"
}
mv "$B" "$W/b-moved"
ln -s "$W/b-moved" "$B"
refused "partner branch: $B is a symbolic link"
rm "$B"
: >"$B"
refused "partner branch: $B exists and is not a directory"
rm "$B"
mv "$W/b-moved" "$B"
chmod 0757 "$B"
refused "partner branch: directory $B is writable by others"
chmod 0750 "$B"
cp "$W/recv.conf" "$W/recv.good"
sed -i 's/^partner.branch.names = .*/partner.branch.names = [a-z]*.csv/' "$W/recv.conf"
refused "no character classes"
sed -i 's|^partner.branch.names = .*|partner.branch.names = in/*|' "$W/recv.conf"
refused "path separator"
cp "$W/recv.good" "$W/recv.conf"
"$PKIE" recv --conf "$W/recv.conf" --check >"$W/check.out" 2>&1 || xfer_fail "--check: $(cat "$W/check.out")"
echo "ok: start refused for a symbolic link, a file, a directory writable by others, bad patterns"
echo "transfer e2e partnerdirs: all passed"
