# Shared helpers of the exit interop tests (sourced). Needs PKIE_BUILD_DIR.
set -eu
B=${PKIE_BUILD_DIR:?}
S=${PKIE_SRC_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
DRV=$B/tests/tlsdrv
EXITS=$B/exits
TEXITS=$B/tests/exits
W=$(mktemp -d "${TMPDIR:-/tmp}/pkie-exit-XXXXXX")
P=$W/pki
FAILS=0
SPID=
cleanup() {
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; fi
  if [ "$FAILS" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$W"; else echo "work dir kept: $W"; fi
}
trap cleanup EXIT
TLSDRV=$DRV sh "$S/tests/interop/exit/mkpki.sh" "$P"

ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
check() { # check "description" command...
  d=$1
  shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}

# conf NAME KEY=VALUE...: write $W/NAME.conf
conf() {
  n=$1
  shift
  : >"$W/$n.conf"
  for kv in "$@"; do
    printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >>"$W/$n.conf"
  done
  # the same tests with the exit in the monitor's process (ctest *_none)
  if [ -n "${PKIE_TEST_EXIT_ISOLATION:-}" ]; then
    printf 'pki.exit.isolation = %s\n' "$PKIE_TEST_EXIT_ISOLATION" >>"$W/$n.conf"
  fi
}
internal_keys() { echo "pki.base=$P/pki.db" "pki.password=$P/pki.pw"; }

# server CONF COUNT ARGS...: start tlsdrv server in the background; sets PORT
server() {
  c=$1 n=$2
  shift 2
  rm -f "$W/port" "$W/srv.out"
  "$DRV" server --conf "$W/$c.conf" --port-file "$W/port" --count "$n" "$@" \
    >"$W/srv.out" 2>&1 &
  SPID=$!
  i=0
  while [ ! -s "$W/port" ]; do
    i=$((i + 1))
    if [ $i -gt 400 ] || ! kill -0 "$SPID" 2>/dev/null; then
      echo "server did not start:"
      cat "$W/srv.out"
      PORT=0
      return 1
    fi
    sleep 0.05
  done
  PORT=$(cat "$W/port")
}
server_wait() {
  st=0
  wait "$SPID" || st=$?
  SPID=
  return $st
}

# sclient VERSION CERTNAME [extra s_client args]: one s_client session to $PORT;
# output in $W/sc.out
sclient() {
  v=$1 cn=$2
  shift 2
  echo ping | timeout 30 openssl s_client -connect "127.0.0.1:$PORT" "-$v" \
    -cert "$P/$cn.crt" -key "$P/$cn.key" -CAfile "$P/root.crt" -verify_return_error \
    -cert_chain "$P/inter.crt" -ign_eof -quiet "$@" >"$W/sc.out" 2>&1 || true
}
# sserver CERTNAME [extra s_server args]: s_server for one connection on a free
# port; sets PORT
SSPORT=24433
sserver() {
  cn=$1
  shift
  SSPORT=$((SSPORT + 1))
  PORT=$SSPORT
  rm -f "$W/ss.out" # a previous server's ACCEPT must not pass for this one's
  openssl s_server -accept "127.0.0.1:$PORT" -cert "$P/$cn.crt" -key "$P/$cn.key" \
    -cert_chain "$P/inter.crt" -CAfile "$P/root.crt" -Verify 4 -verify_return_error \
    -naccept "${SSNACCEPT:-1}" -rev "$@" >"$W/ss.out" 2>&1 &
  SPID=$!
  i=0
  while ! grep -q ACCEPT "$W/ss.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 400 ] && break
    sleep 0.05
  done
}
sserver_wait() {
  wait "$SPID" 2>/dev/null || true
  SPID=
}
has() { grep -q -- "$2" "$W/$1"; }
hasnt() { ! grep -q -- "$2" "$W/$1"; }
finish() {
  if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
