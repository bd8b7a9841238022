# shellcheck shell=bash
# Shared helpers of the CMP exit e2e tests (sourced by bash). TEST KEYS ONLY.
#   cx_ca_start [NAME PORT]   pkie ca init (once per NAME) + serve; CA_URL_<NAME>
#   cx_ca_stop [NAME]         SIGTERM the CA and wait
#   cx_client WHO [CA] [OPT]  register WHO at the CA (reference WHO, secret file)
#   cx_exit_conf WHO [CA] [LINE...]  the exit configuration of WHO (+ extra lines)
#   cx_recv_start             pkie recv with the CMP exit (exit conf "receiver"; CX_TASKS tasks, default 2)
#   cx_send WHO FILE [OUT]    pkie send with the exit conf of WHO
#   cx_serial WHO             serial (lower-case hex) of WHO's current certificate
#   cx_wait FILE PATTERN SECONDS [PID]
#   cx_fail MSG
set -eu
PKIE=${PKIE_BIN:?PKIE_BIN not set}
BUILD=${PKIE_BUILD_DIR:?PKIE_BUILD_DIR not set}
EXIT_SO=$BUILD/exits/cmp.so
PORT=${CX_PORT:-19443}
W=$(mktemp -d /tmp/pkie-cmpexit-e2e.XXXXXX)
CX_PIDS=
RECV_PID=
cleanup() {
  for p in $CX_PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $CX_PIDS; do wait "$p" 2>/dev/null || true; done
  if [ "${CX_KEEP:-0}" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
[ -e "$EXIT_SO" ] || { echo "FAIL: missing $EXIT_SO" >&2; exit 1; }

cx_fail() {
  echo "FAIL: $*" >&2
  for f in "$W"/*.log; do
    [ -f "$f" ] && { echo "---- $f (tail)" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

cx_wait() {
  local i=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1))
    [ $i -le $(($3 * 10)) ] || return 1
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
}

echo "e2e-ca-passphrase" >"$W/ca.pass"
declare -A CA_PID CA_PORT
cx_ca_start() {
  local name=${1:-ca} port=${2:-${CA_PORT[${1:-ca}]:-19080}}
  CA_PORT[$name]=$port
  if [ ! -d "$W/$name" ]; then
    "$PKIE" ca init --dir "$W/$name" --subject "/O=pkie e2e/CN=$name Root" \
      --pass-file "$W/ca.pass" >"$W/$name-init.out" 2>&1 || cx_fail "ca init: $(cat "$W/$name-init.out")"
    cp "$W/$name/root.crt" "$W/$name-anchor.pem"
  fi
  local log="$W/$name-serve.log"
  : >"$log"
  "$PKIE" ca serve --dir "$W/$name" --listen "127.0.0.1:$port" --pass-file "$W/ca.pass" \
    >>"$log" 2>&1 &
  CA_PID[$name]=$!
  CX_PIDS="$CX_PIDS ${CA_PID[$name]}"
  cx_wait "$log" "serving" 10 "${CA_PID[$name]}" || cx_fail "pkie ca serve $name did not start"
}

cx_ca_stop() {
  local name=${1:-ca}
  kill -TERM "${CA_PID[$name]}"
  wait "${CA_PID[$name]}" 2>/dev/null || true
}

cx_client() {
  local who=$1 ca=${2:-ca}
  shift $(($# >= 2 ? 2 : 1))
  printf 'secret-of-%s\n' "$who" >"$W/$who.secret"
  "$PKIE" ca client add --dir "$W/$ca" --ref "$who" --secret-file "$W/$who.secret" \
    --subject-pattern "O=pkie e2e,CN=$who" --pass-file "$W/ca.pass" "$@" >/dev/null \
    2>"$W/client.err" || cx_fail "client add $who: $(cat "$W/client.err")"
}

cx_exit_conf() {
  local who=$1 ca=${2:-ca}
  shift $(($# >= 2 ? 2 : 1))
  {
    echo "ca_url = http://127.0.0.1:${CA_PORT[$ca]}/pkix/"
    echo "ref = $who"
    echo "secret_file = $W/$who.secret"
    echo "subject = /O=pkie e2e/CN=$who"
    echo "trust_anchor = $W/$ca-anchor.pem"
    echo "dir = $W/$who-private"
    echo "timeout = 3"
    for l in "$@"; do echo "$l"; done
  } >"$W/$who-exit.conf"
}

# cx_recv_start [PEER_SUBJECT_PATTERN]: pkie recv with the CMP exit
# (receiver-exit.conf), peers matching the pattern (default CN=*,O=pkie e2e)
cx_recv_start() {
  mkdir -p "$W/in"
  cat >"$W/recv.conf" <<CONF
listen = 127.0.0.1:$PORT
dir = $W/in
tasks = ${CX_TASKS:-2}
audit = $W/audit.log
log_level = info
partner.peers.subject = ${1:-CN=*,O=pkie e2e}
partner.peers.dir = $W/in
pki.type = exit
pki.exit.libpath = $EXIT_SO
pki.exit.conf = $W/receiver-exit.conf
pki.exit.isolation = ${PKIE_TEST_EXIT_ISOLATION:-process}
CONF
  rm -f "$W/recv.log" # a restart must not read the previous run's "listening on"
  "$PKIE" recv --conf "$W/recv.conf" >"$W/recv.log" 2>&1 &
  RECV_PID=$!
  CX_PIDS="$CX_PIDS $RECV_PID"
  cx_wait "$W/recv.log" "listening on" 30 "$RECV_PID" || cx_fail "pkie recv did not start"
}

cx_send() {
  local who=$1 file=$2 out=${3:-$W/send-$1.log}
  cat >"$W/send-$who.conf" <<CONF
state_dir = $W/state-$who
partner.hq.address = 127.0.0.1:$PORT
partner.hq.subject = CN=receiver,O=pkie e2e
pki.type = exit
pki.exit.libpath = $EXIT_SO
pki.exit.conf = $W/$who-exit.conf
pki.exit.isolation = ${PKIE_TEST_EXIT_ISOLATION:-process}
CONF
  [ -e "$file" ] || head -c 50000 /dev/urandom >"$file"
  "$PKIE" send --conf "$W/send-$who.conf" --to hq --retries 0 "$file" >>"$out" 2>&1
}

cx_serial() {
  openssl x509 -noout -serial -in "$W/$1-private/identity.pem" | sed 's/serial=//' | tr 'A-F' 'a-f'
}
