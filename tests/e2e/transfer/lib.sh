# Shared helpers of the transfer e2e tests (sourced). TEST KEYS ONLY.
#   xfer_setup            work dir $W, test PKI, bases recv.db send.db rogue.db, confs
#   xfer_recv_start [N]   start pkie recv (conf $W/recv.conf), wait until it listens
#   xfer_recv_stop        SIGTERM and wait
#   xfer_fail MSG         print and exit 1
#   send_parallel N       N senders at once, each file must arrive identical
#   partial_size NAME     bytes of the partial file of NAME (0: none)
set -eu
PKIE=${PKIE_BIN:?PKIE_BIN not set}
BUILD=${PKIE_BUILD_DIR:?PKIE_BUILD_DIR not set}
TRACE_SO=$BUILD/exits/trace.so
PORT=${XFER_PORT:-17443}
W=$(mktemp -d /tmp/pkie-xfer-e2e.XXXXXX)
RECV_PID=
cleanup() {
  if [ -n "$RECV_PID" ]; then kill -9 "$RECV_PID" 2>/dev/null || true; fi
  if [ "${XFER_KEEP:-0}" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

xfer_fail() {
  echo "FAIL: $*" >&2
  for f in "$W"/recv*.log; do
    [ -f "$f" ] && { echo "---- $f (tail)" >&2; tail -n 30 "$f" >&2; }
  done
  exit 1
}

ossl() { openssl "$@" >"$W/openssl.err" 2>&1 || { cat "$W/openssl.err" >&2; exit 1; }; }

# cert NAME SUBJ ISSUER(self|name) [ca]
mkcert() {
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/pki/$1.key"
  if [ "$3" = self ]; then
    ossl req -new -x509 -key "$W/pki/$1.key" -subj "$2" -days 30 -sha256 \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -out "$W/pki/$1.crt"
  else
    ossl req -new -x509 -key "$W/pki/$1.key" -subj "$2" -days 30 -sha256 \
      -CA "$W/pki/$3.crt" -CAkey "$W/pki/$3.key" \
      -addext basicConstraints=critical,CA:FALSE -addext keyUsage=critical,digitalSignature \
      -out "$W/pki/$1.crt"
  fi
}

pki() { "$PKIE" pki --pki "$W/$1" --pass "file:$W/pki/pass" "${@:2}" >/dev/null 2>"$W/pki.err" ||
          { cat "$W/pki.err" >&2; exit 1; }; }

xfer_setup() {
  mkdir -p "$W/pki" "$W/in" "$W/src" "$W/state"
  echo "e2e-test-password" >"$W/pki/pass"
  mkcert root "/O=pkie e2e/CN=e2e Root" self
  mkcert recv "/O=pkie e2e/CN=receiver" root
  mkcert sender1 "/O=pkie e2e/CN=sender1" root
  mkcert other-root "/O=elsewhere/CN=Other Root" self
  mkcert rogue "/O=pkie e2e/CN=sender1" other-root
  for db in recv send rogue; do pki "$db.db" init; pki "$db.db" import --id root --type root --cert "$W/pki/root.crt"; done
  pki recv.db import --kdf-iter 10000 --id recv --type user --cert "$W/pki/recv.crt" --key "$W/pki/recv.key"
  pki send.db import --kdf-iter 10000 --id me --type user --cert "$W/pki/sender1.crt" --key "$W/pki/sender1.key"
  pki rogue.db import --id other --type root --cert "$W/pki/other-root.crt" # its issuer
  pki rogue.db import --kdf-iter 10000 --id me --type user --cert "$W/pki/rogue.crt" --key "$W/pki/rogue.key"
  cat >"$W/recv.conf" <<CONF
listen = 127.0.0.1:$PORT
dir = $W/in
tasks = ${XFER_TASKS:-4}
checkpoint = ${XFER_CHECKPOINT:-16777216}
cert = recv
ca = root
audit = $W/audit.log
log_level = debug
idle_timeout = 60
partner.acme.subject = CN=sender*,O=pkie e2e
# the one shared directory of old, kept explicitly (the default is DIR/acme:
# partnerdirs.sh tests it)
partner.acme.dir = $W/in
pki.base = $W/recv.db
pki.password = $W/pki/pass
pki.type = exit
pki.exit.libpath = $TRACE_SO
pki.exit.conf = $W/trace.log
CONF
  for who in send rogue; do
    cat >"$W/$who.conf" <<CONF
cert = me
ca = root
state_dir = $W/state/$who
partner.hq.address = 127.0.0.1:$PORT
partner.hq.subject = CN=receiver,O=pkie e2e
pki.base = $W/$who.db
pki.password = $W/pki/pass
CONF
  done
}

RECV_N=0
xfer_recv_start() {
  RECV_N=$((RECV_N + 1))
  RECV_LOG=$W/recv$RECV_N.log
  "$PKIE" recv --conf "$W/recv.conf" 2>"$RECV_LOG" &
  RECV_PID=$!
  i=0
  while ! grep -q "listening on" "$RECV_LOG" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || xfer_fail "pkie recv did not start"
    kill -0 "$RECV_PID" 2>/dev/null || xfer_fail "pkie recv exited at startup"
    sleep 0.1
  done
}

xfer_recv_stop() {
  kill -TERM "$RECV_PID"
  wait "$RECV_PID" || xfer_fail "pkie recv exit status $? after SIGTERM"
  RECV_PID=
  grep -q "stopped" "$RECV_LOG" || xfer_fail "no clean stop in the log"
}

# mkfile NAME SIZE_BYTES: pseudo-random content in $W/src
mkfile() {
  if [ "$2" -eq 0 ]; then : >"$W/src/$1"; return; fi
  openssl enc -aes-128-ctr -pass "pass:$1" -nosalt -pbkdf2 -in /dev/zero 2>/dev/null |
    head -c "$2" >"$W/src/$1"
}

# partial_size NAME: bytes of the partial file of NAME in the destination (0: none)
partial_size() {
  f=$(ls -A "$W/in" | grep "^\.$1\..*\.part$" | head -1)
  [ -n "$f" ] && stat -c %s "$W/in/$f" 2>/dev/null || echo 0
}

# visible files of the destination (hidden partials and the audit excluded)
visible() { ls "$W/in"; }

send() { "$PKIE" send --conf "$W/send.conf" --to hq "$@"; }

# send_parallel N: N senders at once, files p1..pN of distinct sizes; each
# must succeed and arrive identical in $W/in
send_parallel() {
  _pids=
  for _i in $(seq 1 "$1"); do
    mkfile "p$_i" $((65536 * _i + _i))
    send "$W/src/p$_i" --json >"$W/p$_i.json" 2>"$W/p$_i.err" &
    _pids="$_pids $!"
  done
  _n=0
  for _p in $_pids; do wait "$_p" || _n=$((_n + 1)); done
  [ $_n -eq 0 ] || xfer_fail "$_n of $1 parallel senders failed: $(cat "$W"/p*.err)"
  for _i in $(seq 1 "$1"); do cmp "$W/src/p$_i" "$W/in/p$_i" || xfer_fail "p$_i differs"; done
}
