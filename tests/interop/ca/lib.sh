# Shared helpers of the pkie ca interop/e2e tests (sourced, POSIX sh).
# Needs PKIE_BIN; creates $WORK and removes it on exit; stops the servers it started.

: "${PKIE_BIN:?PKIE_BIN must name the pkie binary}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pkie-ca-test.XXXXXX")
SERVER_PID=
export PKIE_CA_PASS=interop-pass
fails=0

# PKIE_TEST_PG_DIR (a throwaway cluster, tests/pg/pgcluster.sh): the same test
# on PostgreSQL. A fresh database of the cluster is the store, and every
# `pkie ca SUB` of the test gets --db through a wrapper in $WORK.
# ca_new_store: a fresh database for the next `pkie ca init` (PostgreSQL
# only: on SQLite each --dir has its own ca.db already).
PKIE_REAL_BIN=$PKIE_BIN
ca_new_store() {
  [ -n "${PKIE_TEST_PG_DIR:-}" ] || return 0
  PKIE_TEST_DBNAME="t$$_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
  sh "$PKIE_TEST_PG_SCRIPT" createdb "$PKIE_TEST_PG_DIR" "$PKIE_TEST_DBNAME" ||
    { echo "FATAL: createdb" >&2; exit 1; }
  PKIE_TEST_DB="$(sh "$PKIE_TEST_PG_SCRIPT" conninfo "$PKIE_TEST_PG_DIR") dbname=$PKIE_TEST_DBNAME"
  PKIE_BIN=$WORK/pkie-db
  printf '#!/bin/sh\nif [ "$1" = ca ] && [ $# -ge 2 ] && [ "$2" != --help ]; then\n  sub=$2\n  shift 2\n  exec "%s" ca "$sub" --db "%s" "$@"\nfi\nexec "%s" "$@"\n' \
    "$PKIE_REAL_BIN" "$PKIE_TEST_DB" "$PKIE_REAL_BIN" >"$PKIE_BIN.new"
  chmod +x "$PKIE_BIN.new"
  mv "$PKIE_BIN.new" "$PKIE_BIN"
  echo "store: PostgreSQL ($PKIE_TEST_DB)"
}
ca_new_store

cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

die() {
  echo "FATAL: $*" >&2
  [ -f "$WORK/serve.log" ] && tail -20 "$WORK/serve.log" >&2
  exit 1
}

ok() { echo "ok   $*"; }
bad() {
  echo "FAIL $*"
  fails=$((fails + 1))
}

# check NAME CMD...: the command must succeed
check() {
  name=$1
  shift
  if "$@" >"$WORK/last.log" 2>&1; then ok "$name"; else
    bad "$name"
    tail -5 "$WORK/last.log"
  fi
}

# refute NAME PATTERN CMD...: the command must fail and its output contain PATTERN
refute() {
  name=$1
  pat=$2
  shift 2
  if "$@" >"$WORK/last.log" 2>&1; then
    bad "$name (succeeded)"
  elif grep -q -- "$pat" "$WORK/last.log"; then ok "$name"; else
    bad "$name (no '$pat')"
    tail -5 "$WORK/last.log"
  fi
}

# ca_init [--intermediate] [extra client add options]: a CA in $WORK/ca with client "client1"
# (secret s3cret)
ca_init() {
  inter=
  if [ "${1:-}" = --intermediate ]; then
    inter=--intermediate
    shift
  fi
  "$PKIE_BIN" ca init --dir "$WORK/ca" --subject "/CN=Interop Root/O=pkie" $inter >/dev/null ||
    die "ca init"
  printf 's3cret\n' >"$WORK/secret"
  "$PKIE_BIN" ca client add --dir "$WORK/ca" --ref client1 --secret-file "$WORK/secret" \
    --subject-pattern "CN=*,O=pkie" --san-pattern "DNS:*.pkie.test" "$@" || die "client add"
}

# ca_serve [extra serve options]: start the server, set PORT and SERVER_PID
ca_serve() {
  # the parent removes the previous server's log: the child's redirection
  # truncates it only once it runs, and a loaded machine let this loop read
  # the old "(port N)" first and then an empty file ("no port")
  rm -f "$WORK/serve.log"
  "$PKIE_BIN" ca serve --dir "$WORK/ca" --listen 127.0.0.1:0 "$@" >"$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  i=0
  while ! grep -q "(port [0-9]*)" "$WORK/serve.log" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 300 ] && die "server did not start" # 30 s: ASan on a loaded machine
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited"
    sleep 0.1
  done
  PORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$WORK/serve.log" | head -1)
  [ -n "$PORT" ] || die "no port"
}

ca_stop() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# db_raw CADIR: the store's raw content on stdout (SQLite file or pg_dump)
db_raw() {
  if [ -n "${PKIE_TEST_DB:-}" ]; then
    sh "$PKIE_TEST_PG_SCRIPT" dump "$PKIE_TEST_PG_DIR" "$PKIE_TEST_DBNAME"
  else
    cat "$1/ca.db"
  fi
}

# db_has_cert FILE: the certificate FILE is in the CA database with the same DER
db_has_cert() {
  serial=$(openssl x509 -in "$1" -noout -serial | sed 's/serial=//; s/^0*//')
  "$PKIE_BIN" ca export --dir "$WORK/ca" --serial "$serial" --out "$WORK/db.pem" >/dev/null 2>&1 &&
    cmp -s "$WORK/db.pem" "$(openssl x509 -in "$1" -out "$WORK/in.pem" && echo "$WORK/in.pem")"
}

# approve_pending NAME LOG [SEEN]: wait (60 s at most) until a pending request whose subject has
# NAME arrives (and, with SEEN, until LOG has a line matching SEEN: e.g. the client's first
# pollRep, so that approval cannot overtake its first poll), approve it, then wait until the
# client writing LOG has appended "rc=N"
approve_pending() {
  i=0
  while ! "$PKIE_BIN" ca pending list --dir "$WORK/ca" | grep -q "$1"; do
    i=$((i + 1))
    [ $i -gt 600 ] && die "request $1 did not arrive"
    sleep 0.1
  done
  i=0
  while [ -n "${3:-}" ] && ! grep -q "$3" "$2"; do
    i=$((i + 1))
    [ $i -gt 600 ] && die "client of $1 never logged '$3'"
    sleep 0.1
  done
  id=$("$PKIE_BIN" ca pending list --dir "$WORK/ca" | awk -v n="$1" '$0 ~ n {print $1}')
  check "pending approve" "$PKIE_BIN" ca pending approve "$id" --dir "$WORK/ca"
  i=0
  while ! grep -q "rc=" "$2"; do
    i=$((i + 1))
    [ $i -gt 600 ] && die "polling client of $1 did not finish"
    sleep 0.1
  done
}
