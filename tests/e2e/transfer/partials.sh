#!/bin/bash
# e2e: housekeeping of partial transfers. A name is reserved from its FILE
# on: the transfer of the same name by another partner landing in the same
# directory is refused (XFER_RESERVED,
# not retried) while the first is partial. `pkie recv --partials` lists them,
# --remove ID and --expired remove them; partial_ttl expires them at start,
# periodically and right after a reload (a partner added by SIGHUP included),
# after which the other partner's transfer goes through.
. "$(dirname "$0")/lib.sh"
xfer_setup
# a second partner, branch
mkcert branch "/O=pkie e2e/CN=branch" root
pki branch.db init
pki branch.db import --id root --type root --cert "$W/pki/root.crt"
pki branch.db import --kdf-iter 10000 --id me --type user --cert "$W/pki/branch.crt" --key "$W/pki/branch.key"
sed -e "s|$W/send.db|$W/branch.db|" -e "s|state/send|state/branch|" "$W/send.conf" >"$W/branch.conf"
# branch shares acme's directory (partner.NAME.dir): a name is reserved for
# both (partnerdirs.sh: partners with their own directories do not meet)
printf 'partner.branch.subject = CN=branch,O=pkie e2e\npartner.branch.dir = %s\n' "$W/in" >>"$W/recv.conf"
xfer_recv_start

partials() { "$PKIE" recv --conf "$W/recv.conf" --partials "$@"; }
# partial NAME: start sending NAME (128 MiB), kill -9 the sender once its
# partial file exists, wait until the receiver released it (state idle)
partial() {
  mkfile "$1" 134217728
  "$PKIE" send --conf "$W/send.conf" --to hq "$W/src/$1" --retries 0 >/dev/null 2>&1 &
  _p=$!
  _i=0
  while [ -z "$(ls -A "$W/in" | grep "^\.$1\..*\.part$")" ]; do
    _i=$((_i + 1)); [ $_i -lt 3000 ] || xfer_fail "no partial file of $1"; sleep 0.01
  done
  kill -9 $_p; wait $_p 2>/dev/null || true
  _i=0
  until partials | grep -q " idle *$1\$"; do
    _i=$((_i + 1)); [ $_i -lt 600 ] || xfer_fail "partial of $1 not released: $(partials)"; sleep 0.1
  done
}
age() { # NAME: its partial files 8 days old (default partial_ttl: 7 days)
  for f in $(ls -A "$W/in" | grep "^\.$1\."); do touch -d '8 days ago' "$W/in/$f"; done
}

partial big
id=$(partials | awk '$NF == "big" {print $1}')
[ ${#id} -eq 32 ] || xfer_fail "no id listed: $(partials)"
echo "ok: partial transfer of big listed ($id)"

# another partner, same name: refused at FILE, not retried
mkfile bigb 1000
mkdir -p "$W/srcb" && cp "$W/src/bigb" "$W/srcb/big"
st=0
"$PKIE" send --conf "$W/branch.conf" --to hq --json --retries 3 "$W/srcb/big" >"$W/b.json" 2>"$W/b.err" || st=$?
[ $st -eq 2 ] || xfer_fail "branch: exit $st: $(cat "$W/b.json" "$W/b.err")"
grep -q '"error":"XFER_RESERVED: .*big is reserved by another transfer' "$W/b.json" ||
  xfer_fail "branch not refused with XFER_RESERVED: $(cat "$W/b.json")"
grep -q '"attempts":1,.*"retryable":false' "$W/b.json" || xfer_fail "reservation retried: $(cat "$W/b.json")"
grep -q '"partner":"branch".*"file":"big".*"result":"refused".*XFER_RESERVED' "$W/audit.log" ||
  xfer_fail "no audit line for the reservation"
[ ! -e "$W/in/big" ] || xfer_fail "big delivered"
echo "ok: branch's big refused with XFER_RESERVED while acme's is partial"

# --remove: unknown id refused, the real one removed
partials --remove 0123456789abcdef0123456789abcdef >/dev/null 2>&1 && xfer_fail "unknown id removed"
partials --remove "$id" | grep -q "removed $id" || xfer_fail "--remove failed"
[ -z "$(ls -A "$W/in" | grep '^\.big\.')" ] || xfer_fail "partial of big left: $(ls -A "$W/in")"
"$PKIE" send --conf "$W/branch.conf" --to hq "$W/srcb/big" >/dev/null 2>"$W/b2.err" ||
  xfer_fail "branch refused after the removal: $(cat "$W/b2.err")"
cmp "$W/srcb/big" "$W/in/big" || xfer_fail "big differs"
echo "ok: --remove freed the name; branch's big delivered"

# --expired: only what is older than partial_ttl
partial p2
partial p3
age p2
partials | grep -q " expired *p2\$" || xfer_fail "p2 not shown expired: $(partials)"
partials --expired | grep -q "removed 1 expired" || xfer_fail "--expired: $(partials)"
[ -z "$(ls -A "$W/in" | grep '^\.p2\.')" ] || xfer_fail "p2 left"
[ -n "$(ls -A "$W/in" | grep '^\.p3\.')" ] || xfer_fail "p3 removed although fresh"
echo "ok: --expired removed the old partial only"

# at start: a receiver with partial_ttl = 60 removes what is older
xfer_recv_stop
age p3
echo "partial_ttl = 60" >>"$W/recv.conf"
xfer_recv_start
grep -q "removed 1 partial transfer(s) unchanged for over 60 s" "$RECV_LOG" || xfer_fail "no expiry at start"
[ -z "$(ls -A "$W/in" | grep '^\.p3\.')" ] || xfer_fail "p3 left after the start"
echo "ok: expired at start"

# periodically (every ttl/4 = 15 s here)
partial p4
age p4
i=0
while [ -n "$(ls -A "$W/in" | grep '^\.p4\.')" ]; do
  i=$((i + 1)); [ $i -lt 600 ] || xfer_fail "p4 not expired within 60 s"; sleep 0.1
done
echo "ok: expired while running (after $((i / 10)) s)"
xfer_recv_stop

# a partner added by a reload (SIGHUP) has its directory swept at once, with
# the configuration of the generation in place; partial_ttl = 3600 here, so
# the periodic sweep (every 900 s) cannot be what removes it
fake() { # DIR NAME AGE: a partial transfer (state + part) of NAME, AGE old
  _t=$(openssl rand -hex 16)
  printf 'PKIEPART 1 %s 100 0\n' "$_t" >"$1/.$2.$_t.state"
  head -c 100 /dev/zero >"$1/.$2.$_t.part"
  touch -d "$3" "$1/.$2.$_t.state" "$1/.$2.$_t.part"
}
sed -i 's/^partial_ttl = 60$/partial_ttl = 3600/' "$W/recv.conf"
fake "$W/in" kept '30 minutes ago' # acme's: within partial_ttl
mkdir -m 0750 "$W/late"
fake "$W/late" old '2 hours ago'
xfer_recv_start
grep -q "removed .* partial transfer" "$RECV_LOG" && xfer_fail "something expired at start"
printf 'partner.late.subject = CN=late,O=pkie e2e\npartner.late.dir = %s\n' "$W/late" >>"$W/recv.conf"
kill -HUP "$RECV_PID"
i=0
until grep -q "removed 1 partial transfer(s) unchanged for over 3600 s (partner late)" "$RECV_LOG"; do
  i=$((i + 1)); [ $i -lt 300 ] || xfer_fail "the reload's new partner not swept within 30 s"; sleep 0.1
done
grep -q "reloaded: generation 2" "$RECV_LOG" || xfer_fail "no reload in the log"
[ -z "$(ls -A "$W/late")" ] || xfer_fail "partial left in late's directory: $(ls -A "$W/late")"
[ "$(ls -A "$W/in" | grep -c '^\.kept\.')" -eq 2 ] || xfer_fail "acme's fresh partial removed: $(ls -A "$W/in")"
[ "$(grep -c 'removed .* partial transfer' "$RECV_LOG")" -eq 1 ] ||
  xfer_fail "unexpected expiry: $(grep 'removed .* partial transfer' "$RECV_LOG")"
echo "ok: a partner added by SIGHUP swept at once (after $((i / 10)) s), acme's fresh partial kept"
xfer_recv_stop
echo "transfer e2e partials: all passed"
