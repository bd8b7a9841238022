#!/bin/sh
# Crash: kill -9 the CA during a stream of enrollments, restart it, and check that
# the database is consistent, that every certificate a client received is in it,
# that no serial was reused, and that the server serves again.
set -u
. "$(dirname "$0")/../../interop/ca/lib.sh"
ca_init
ca_serve --threads 4
newkey "$WORK/k.pem"
stream() { # stream TAG COUNT: enrollments in a row, certificates into $WORK/TAG-i.pem
  j=0
  while [ $j -lt "$2" ]; do
    ic=-implicit_confirm
    [ $((j % 3)) -eq 0 ] && ic=
    openssl cmp -cmd ir -server 127.0.0.1:$PORT -path pkix/ -ref client1 -secret pass:s3cret \
      -newkey "$WORK/k.pem" -subject "/CN=$1-$j/O=pkie" $ic -certout "$WORK/$1-$j.pem" \
      -msg_timeout 5 >/dev/null 2>&1 || {
      rm -f "$WORK/$1-$j.pem"
      return 0 # the server is gone: stop this stream
    }
    j=$((j + 1))
  done
}
rounds=${CA_CRASH_ROUNDS:-3}
r=0
while [ $r -lt $rounds ]; do
  stream "r$r-a" 40 &
  s1=$!
  stream "r$r-b" 40 &
  s2=$!
  sleep 1.$((r * 3))
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
  wait $s1 $s2
  check "round $r: database integrity after kill -9" "$PKIE_BIN" ca check --dir "$WORK/ca"
  ca_serve --threads 4
  r=$((r + 1))
done
stream after 5
n=0
missing=0
for f in "$WORK"/r*-*.pem "$WORK"/after-*.pem; do
  [ -s "$f" ] || continue
  n=$((n + 1))
  db_has_cert "$f" || { missing=$((missing + 1)); echo "not in DB: $f"; }
done
[ $n -gt 0 ] && [ $missing -eq 0 ] && ok "all $n certificates clients received are in the DB" ||
  bad "$missing of $n received certificates missing"
total=$("$PKIE_BIN" ca list --dir "$WORK/ca" | wc -l)
distinct=$("$PKIE_BIN" ca list --dir "$WORK/ca" | awk '{print $1}' | sort -u | wc -l)
[ "$total" -eq "$distinct" ] && ok "$total certificates, no serial reused" || bad "serial reused"
[ -s "$WORK/after-4.pem" ] && ok "server serves after restart" || bad "no enrollment after restart"
# an unconfirmed certificate left behind by the crash is revoked when its transaction expires
# (the restarted server expires it within about --tx-timeout; 60 s for a loaded machine)
ca_stop
ca_serve --tx-timeout 1
i=0
while left=$("$PKIE_BIN" ca list --dir "$WORK/ca" | grep -c " issued " || true) && [ "$left" -gt 0 ]; do
  i=$((i + 1))
  [ $i -gt 600 ] && break
  sleep 0.1
done
ca_stop
[ "$left" -eq 0 ] && ok "open transactions expired cleanly on restart" || bad "$left still issued"
check "final database integrity" "$PKIE_BIN" ca check --dir "$WORK/ca"
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
