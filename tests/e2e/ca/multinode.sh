#!/bin/sh
# Several `pkie ca serve` nodes on one PostgreSQL (issue 18): 32 clients
# (`openssl cmp` and `pkie cmp`) spread their enrollments over two nodes; node A
# is killed with SIGKILL in the middle and restarted. Then every certificate a
# client received is in the store, no serial is used twice, every client run
# ended (enrolled or refused, none hung) and no transaction is left open once
# the surviving node expired them. PostgreSQL is stopped and started in the
# middle of a run: requests get HTTP 503 (systemUnavail) within 5 s, and the
# nodes serve again without a restart. A revocation at node A is in the CRL
# that node B serves. The cluster is this test's own (tests/pg/pgcluster.sh).
set -u
PGS=$PKIE_SRC_DIR/tests/pg/pgcluster.sh
PGDIR=$PKIE_BUILD_DIR/pg-multinode
sh "$PGS" start "$PGDIR" >/dev/null || { echo "FATAL: cannot start PostgreSQL" >&2; exit 1; }
export PKIE_TEST_PG_DIR=$PGDIR PKIE_TEST_PG_SCRIPT=$PGS
. "$(dirname "$0")/../../interop/ca/lib.sh"
A_PID=
B_PID=
multinode_cleanup() {
  for p in $A_PID $B_PID; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  sh "$PGS" stop "$PGDIR"
  cleanup
}
trap multinode_cleanup EXIT INT TERM
PSQL=$(ls /usr/lib/postgresql/*/bin/psql | tail -1)
sql() { "$PSQL" -X -A -t -q "$PKIE_TEST_DB" -c "$1"; }

# node_start NAME: start node NAME (A or B); its port goes to $WORK/NAME.port
node_start() {
  rm -f "$WORK/$1.log" # not the previous run's "(port N)" (see ca_serve in lib.sh)
  "$PKIE_BIN" ca serve --dir "$WORK/ca" --listen 127.0.0.1:0 --threads 8 --tx-timeout 4 \
    >"$WORK/$1.log" 2>&1 &
  eval "$1_PID=$!"
  i=0
  while ! grep -q "(port [0-9]*)" "$WORK/$1.log" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 600 ] && die "node $1 did not start"
    kill -0 "$(eval echo \$$1_PID)" 2>/dev/null || die "node $1 exited"
    sleep 0.1
  done
  sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/$1.log" | head -1 >"$WORK/$1.port.new"
  mv "$WORK/$1.port.new" "$WORK/$1.port"
}

ca_init
node_start A
node_start B
newkey "$WORK/k.pem"
MAC="-ref client1 -secret pass:s3cret"

# enroll TOOL NODE CN [IC]: one enrollment at NODE's current port
enroll() {
  port=$(cat "$WORK/$2.port")
  if [ "$1" = openssl ]; then
    timeout 60 openssl cmp -cmd ir -server "127.0.0.1:$port" -path pkix/ $MAC -newkey "$WORK/k.pem" \
      -subject "/CN=$3/O=pkie" ${4:+-implicit_confirm} -certout "$WORK/certs/$3.pem" \
      -msg_timeout 20 -total_timeout 40 >"$WORK/out/$3.log" 2>&1
  else
    timeout 60 "$PKIE_BIN" cmp -cmd ir -server "127.0.0.1:$port" -path pkix/ $MAC \
      -newkey "$WORK/k.pem" -subject "/CN=$3/O=pkie" ${4:+-implicit_confirm} \
      -certout "$WORK/certs/$3.pem" >"$WORK/out/$3.log" 2>&1
  fi
}

# client I N: N enrollments alternating nodes; odd I use pkie cmp
client() {
  j=0
  tool=openssl
  [ $(($1 % 2)) -eq 1 ] && tool=pkie
  while [ $j -lt "$2" ]; do
    node=A
    [ $((($1 + j) % 2)) -eq 1 ] && node=B
    ic=
    [ $((j % 2)) -eq 1 ] && ic=1
    enroll $tool $node "c$1-$j" $ic
    st=$?
    echo "$j $node $st" >>"$WORK/res/$1"
    [ $st -ne 0 ] && rm -f "$WORK/certs/c$1-$j.pem"
    j=$((j + 1))
  done
}

mkdir -p "$WORK/certs" "$WORK/out" "$WORK/res"
N=${CA_MULTINODE_ROUNDS:-5}
i=0
while [ $i -lt 32 ]; do
  client $i "$N" &
  eval "CL_$i=$!"
  i=$((i + 1))
done
# kill -9 node A once a third of the enrollments are done, restart it
i=0
while [ "$(ls "$WORK/certs" | wc -l)" -lt $((32 * N / 3)) ]; do
  i=$((i + 1))
  [ $i -gt 1800 ] && die "enrollments do not progress"
  sleep 0.1
done
kill -9 "$A_PID"
wait "$A_PID" 2>/dev/null
ok "node A killed with SIGKILL after $(ls "$WORK/certs" | wc -l) enrollments"
node_start A
i=0
while [ $i -lt 32 ]; do
  wait "$(eval echo \$CL_$i)"
  i=$((i + 1))
done
runs=$(cat "$WORK"/res/* | wc -l)
hung=$(cat "$WORK"/res/* | awk '$3 == 124' | wc -l)
refused=$(cat "$WORK"/res/* | awk '$3 != 0' | wc -l)
[ "$runs" -eq $((32 * N)) ] && [ "$hung" -eq 0 ] &&
  ok "all $runs client runs ended ($refused refused, none hung)" ||
  bad "client runs: $runs of $((32 * N)) ended, $hung hung"
# refusals only at the killed node (connection refused while it was down)
refused_b=$(cat "$WORK"/res/* | awk '$3 != 0 && $2 == "B"' | wc -l)
[ "$refused_b" -eq 0 ] && ok "refusals only at the killed node ($refused at A, none at B)" ||
  bad "$refused_b refusals at node B"
n=0
missing=0
for f in "$WORK"/certs/*.pem; do
  [ -s "$f" ] || continue
  n=$((n + 1))
  db_has_cert "$f" || { missing=$((missing + 1)); echo "not in the store: $f"; }
done
[ $n -gt 0 ] && [ $missing -eq 0 ] && ok "all $n certificates clients received are in the store" ||
  bad "$missing of $n received certificates missing from the store"
total=$(sql "SELECT count(*) FROM certs")
distinct=$(sql "SELECT count(DISTINCT serial) FROM certs")
listed=$("$PKIE_BIN" ca list --dir "$WORK/ca" | awk '{print $1}' | sort -u | wc -l)
[ "$total" -eq "$distinct" ] && [ "$listed" -eq "$total" ] && ok "$total certificates, serials unique" ||
  bad "serials: $total rows, $distinct distinct, $listed listed"
# the transactions the kill interrupted are expired by a node (tx-timeout 4 s)
i=0
while [ "$(sql "SELECT count(*) FROM txs WHERE state IN (0,1,3)")" -ne 0 ]; do
  i=$((i + 1))
  [ $i -gt 300 ] && break
  sleep 0.1
done
open=$(sql "SELECT count(*) FROM txs WHERE state IN (0,1,3)")
[ "$open" -eq 0 ] && ok "no transaction left open" || bad "$open transactions left open"
bad_unconfirmed=$(sql "SELECT count(*) FROM certs c JOIN txs t ON t.id=c.tx_id WHERE c.status=0")
[ "$bad_unconfirmed" -eq 0 ] && ok "no certificate left unconfirmed" ||
  bad "$bad_unconfirmed certificates left awaiting confirmation"

# PostgreSQL down: 503 within 5 s, systemUnavail; back: served without restarting the nodes
check "enrollment before the outage" enroll openssl B pre
openssl cmp -cmd genm -server "127.0.0.1:$(cat "$WORK/B.port")" -path pkix/ $MAC \
  -reqout "$WORK/genm.der" >/dev/null 2>&1
sh "$PGS" pause "$PGDIR"
for node in A B; do
  port=$(cat "$WORK/$node.port")
  t0=$(date +%s%N)
  code=$(curl -s -o "$WORK/resp.der" -w '%{http_code}' --max-time 20 \
    -H 'Content-Type: application/pkixcmp' --data-binary @"$WORK/genm.der" \
    "http://127.0.0.1:$port/pkix/")
  ms=$((($(date +%s%N) - t0) / 1000000))
  [ "$code" = 503 ] && [ $ms -lt 5000 ] && ok "node $node: HTTP 503 after $ms ms while PostgreSQL is down" ||
    bad "node $node: HTTP $code after $ms ms while PostgreSQL is down"
  grep -q "systemUnavail" "$WORK/$node.log" && ok "node $node: CMP error systemUnavail" ||
    bad "node $node: no systemUnavail"
  [ -s "$WORK/resp.der" ] && openssl asn1parse -inform DER -in "$WORK/resp.der" >/dev/null 2>&1 &&
    ok "node $node: a CMP message with the 503" || bad "node $node: no CMP message with the 503"
done
if enroll openssl A down; then bad "enrollment while PostgreSQL is down"; else
  ok "enrollment refused while PostgreSQL is down"
fi
sh "$PGS" resume "$PGDIR"
for node in A B; do
  served=0
  for try in 1 2 3; do
    if enroll openssl $node "back-$node-$try"; then served=$try; break; fi
  done
  [ $served -gt 0 ] && ok "node $node serves again (attempt $served) without a restart" ||
    bad "node $node does not serve after PostgreSQL is back"
  kill -0 "$(eval echo \$${node}_PID)" 2>/dev/null || bad "node $node exited"
done

# a revocation at node A is in the CRL that node B serves
curl -s -o "$WORK/crl0.der" "http://127.0.0.1:$(cat "$WORK/B.port")/crl" # B caches one
victim=$(ls "$WORK"/certs/*.pem | head -1)
check "rr at node A" openssl cmp -cmd rr -server "127.0.0.1:$(cat "$WORK/A.port")" -path pkix/ $MAC \
  -oldcert "$victim"
serial=$(openssl x509 -in "$victim" -noout -serial | sed 's/serial=//')
curl -s -o "$WORK/crl.der" "http://127.0.0.1:$(cat "$WORK/B.port")/crl"
openssl crl -inform DER -in "$WORK/crl.der" -noout -text >"$WORK/crl.txt" 2>&1
grep -qi "Serial Number: *0*$(echo "$serial" | sed 's/^0*//')" "$WORK/crl.txt" &&
  ok "revocation at node A is in node B's CRL" || bad "node B's CRL lacks $serial"
num() { openssl crl -inform DER -in "$1" -noout -crlnumber | sed 's/.*=//'; }
[ $(($(num "$WORK/crl.der"))) -gt $(($(num "$WORK/crl0.der"))) ] &&
  ok "CRL number increased across nodes" || bad "CRL number did not increase"
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
