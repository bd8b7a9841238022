#!/bin/sh
# Concurrency: 32 `openssl cmp` clients enroll at once (MAC, implicit confirm and
# certConf mixed); every client gets a certificate, all serials are distinct and
# every certificate is stored in the database exactly as the client received it.
set -u
. "$(dirname "$0")/lib.sh"
N=${CA_CLIENTS:-32}
ca_init
ca_serve --threads 4
newkey "$WORK/k.pem"
i=0
while [ $i -lt $N ]; do
  ic=-implicit_confirm
  [ $((i % 2)) -eq 1 ] && ic=
  openssl cmp -cmd ir -server 127.0.0.1:$PORT -path pkix/ -ref client1 -secret pass:s3cret \
    -newkey "$WORK/k.pem" -subject "/CN=c$i/O=pkie" $ic -certout "$WORK/c$i.pem" \
    >"$WORK/c$i.log" 2>&1 &
  pids="${pids:-} $!"
  i=$((i + 1))
done
for p in $pids; do wait "$p"; done
got=0
i=0
while [ $i -lt $N ]; do
  if [ -s "$WORK/c$i.pem" ] && db_has_cert "$WORK/c$i.pem"; then got=$((got + 1)); else
    bad "client $i"
    tail -3 "$WORK/c$i.log"
  fi
  i=$((i + 1))
done
[ $got -eq $N ] && ok "$N concurrent clients enrolled, each certificate stored as received"
distinct=$(for f in "$WORK"/c*.pem; do openssl x509 -in "$f" -noout -serial; done | sort -u | wc -l)
[ "$distinct" -eq "$N" ] && ok "$N distinct serials" || bad "only $distinct distinct serials"
unconfirmed=$("$PKIE_BIN" ca list --dir "$WORK/ca" | grep -c " issued " || true)
[ "$unconfirmed" -eq 0 ] && ok "every certificate confirmed (certConf or implicit)" ||
  bad "$unconfirmed certificates left unconfirmed"
check "database integrity" "$PKIE_BIN" ca check --dir "$WORK/ca"
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
