#!/bin/sh
# bench/ca_enroll/stores.sh (issue 18): enrollments per second by store, in one
# run: 32 library clients (bench_ca_enroll: ECDSA P-256, MAC, implicitConfirm)
# against
#   sqlite:   one `pkie ca serve` on ca.db (WAL, synchronous=FULL)
#   pg1:      one node on PostgreSQL (synchronous_commit=on, fsync=on)
#   pg2:      two nodes on one PostgreSQL, 16 clients on each
# with the server processes' CPU per enrollment (CA nodes; PostgreSQL's
# postmaster and backends). The PostgreSQL cluster is a throwaway one
# (tests/pg/pgcluster.sh) under the build directory, on a Unix socket.
# Median of PKIE_BENCH_ROUNDS (3) interleaved rounds of PKIE_BENCH_TOTAL (2000).
# Target: pg2 >= 800/s.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib/build.sh
if [ "${PKIE_IN_NETNS:-}" != 1 ]; then
  bench_build ca_enroll pkie bench_ca_enroll
  exec tests/netns-run sh "$0"
fi
TOTAL=${PKIE_BENCH_TOTAL:-2000}
ROUNDS=${PKIE_BENCH_ROUNDS:-3}
PKIE=$(pwd)/$b/pkie
BENCH=$(pwd)/$b/bench/bench_ca_enroll
PGS=$(pwd)/tests/pg/pgcluster.sh
PGDIR=$(cd "$b" && pwd)/pg-bench
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_ca_stores.XXXXXX")
# The nodes' pids go to a file: serve runs in a command substitution (a
# subshell), so a variable set there would not reach this trap.
stop_nodes() {
  _ps=$(cat "$work/pids" 2>/dev/null || true)
  for _p in $_ps; do kill "$_p" 2>/dev/null || true; done
  for _p in $_ps; do
    _i=0
    while kill -0 "$_p" 2>/dev/null && [ $_i -lt 100 ]; do _i=$((_i + 1)); sleep 0.1; done
  done
}
trap 'stop_nodes; wait 2>/dev/null; sh "$PGS" stop "$PGDIR"; rm -rf "$work"' EXIT
sh "$PGS" start "$PGDIR" >/dev/null
export PKIE_CA_PASS=bench-pass
printf 'benchsecret\n' >"$work/secret"

# setup NAME [DB]: a CA in $work/NAME on DB (default its ca.db)
setup() {
  db=
  if [ -n "${2:-}" ]; then
    sh "$PGS" createdb "$PGDIR" "$2"
    db="$(sh "$PGS" conninfo "$PGDIR") dbname=$2"
  fi
  "$PKIE" ca init --dir "$work/$1" ${db:+--db "$db"} --subject "/CN=Bench Root/O=pkie" >/dev/null
  "$PKIE" ca client add --dir "$work/$1" ${db:+--db "$db"} --ref bench \
    --secret-file "$work/secret" --subject-pattern "CN=*"
  echo "$db" >"$work/$1.db"
}
# serve NAME NODE: start a node of CA NAME; prints its pid and port
serve() {
  db=$(cat "$work/$1.db")
  "$PKIE" ca serve --dir "$work/$1" ${db:+--db "$db"} --listen 127.0.0.1:0 --threads 16 \
    --log-level warn >"$work/$1-$2.log" 2>&1 &
  _p=$!
  echo "$_p" >>"$work/pids"
  i=0
  while ! grep -q "port " "$work/$1-$2.log" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 300 ] && { cat "$work/$1-$2.log" >&2; exit 1; }; sleep 0.1
  done
  echo "$_p $(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$work/$1-$2.log")"
}
ticks() { # ticks PID...: utime+stime (+ waited-for children) of the processes
  for _p in "$@"; do awk '{print $14 + $15 + $16 + $17}' "/proc/$_p/stat" 2>/dev/null || echo 0; done |
    awk '{s += $1} END {print s + 0}'
}
pg_pids() {
  _pm=$(head -1 "$PGDIR/data/postmaster.pid")
  echo "$_pm $(ps -o pid= --ppid "$_pm" | tr '\n' ' ')"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
setup sqlite
setup pg1 bench1
setup pg2 bench2
set -- $(serve sqlite 1); SQ_PID=$1; SQ_PORT=$2
set -- $(serve pg1 1); P1_PID=$1; P1_PORT=$2
set -- $(serve pg2 a); P2A_PID=$1; P2A_PORT=$2
set -- $(serve pg2 b); P2B_PID=$1; P2B_PORT=$2
HZ=$(getconf CLK_TCK)

# run NAME PORT[,PORT] SERVERPIDS WITHPG: one round; appends "rate ca_ms pg_ms" to $work/NAME
run() {
  _ports=$(echo "$2" | tr ',' ' ')
  _n=$(echo "$_ports" | wc -w)
  _pg0=0
  [ "$4" = 1 ] && _pg0=$(ticks $(pg_pids))
  _ca0=$(ticks $3)
  _t0=$(date +%s.%N)
  _bp=
  for _port in $_ports; do
    "$BENCH" "http://127.0.0.1:$_port/pkix/" bench benchsecret $((32 / _n)) $((TOTAL / _n)) \
      >"$work/out-$_port" &
    _bp="$_bp $!"
  done
  for _p in $_bp; do wait "$_p" || { echo "bench/ca_enroll/stores: clients failed" >&2; exit 1; }; done
  _t1=$(date +%s.%N)
  _ca1=$(ticks $3)
  _pg1=0
  [ "$4" = 1 ] && _pg1=$(ticks $(pg_pids))
  _done=$(for _port in $_ports; do awk '{print $1}' "$work/out-$_port"; done | awk '{s += $1} END {print s}')
  _fail=$(for _port in $_ports; do awk '{print $3}' "$work/out-$_port"; done | awk '{s += $1} END {print s}')
  [ "$_fail" -eq 0 ] || { echo "bench/ca_enroll/stores: $_fail failed enrollments" >&2; exit 1; }
  echo "$_done $_t0 $_t1 $_ca0 $_ca1 $_pg0 $_pg1 $HZ" |
    awk '{t = $3 - $2; printf "%.1f %.3f %.3f\n", $1 / t, ($5 - $4) * 1000 / $8 / $1, ($7 - $6) * 1000 / $8 / $1}' \
      >>"$work/$1.r"
}
: >"$work/sqlite.r"; : >"$work/pg1.r"; : >"$work/pg2.r"
r=0
while [ "$r" -lt "$ROUNDS" ]; do
  run sqlite "$SQ_PORT" "$SQ_PID" 0
  run pg1 "$P1_PORT" "$P1_PID" 1
  run pg2 "$P2A_PORT,$P2B_PORT" "$P2A_PID $P2B_PID" 1
  r=$((r + 1))
done
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v c="$2" '{print $c}' "$work/$1.r" | median; }
for cfg in sqlite pg1 pg2; do
  printf 'RESULT ca_enroll_store_%s_per_s ours=%s ca_cpu_ms_per_enrollment=%s pg_cpu_ms_per_enrollment=%s (rounds: %s)\n' \
    "$cfg" "$(col $cfg 1)" "$(col $cfg 2)" "$(col $cfg 3)" "$(awk '{printf "%s ", $1}' "$work/$cfg.r")"
done
printf 'RESULT ca_enroll_pg2_vs_target ours=%s baseline=800 ratio=%.2f target=>=1.0\n' \
  "$(col pg2 1)" "$(echo "$(col pg2 1) / 800" | bc -l)"
echo "certificates: sqlite $("$PKIE" ca list --dir "$work/sqlite" | wc -l)," \
  "pg2 $("$PKIE" ca list --dir "$work/pg2" --db "$(cat "$work/pg2.db")" | wc -l)" \
  "(cores: $(nproc), load at start: $load0, at end: $(cut -d' ' -f1-3 /proc/loadavg))"
