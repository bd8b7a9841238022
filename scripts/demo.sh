#!/bin/sh
# make demo: the whole system on 127.0.0.1 with embedded defaults.
#   1. pkie ca: a CA in a temporary directory, serving CMP over HTTP
#   2. a receiver (pkie recv) and a sender (pkie send), both with
#      pki.type = exit and the CMP exit: each enrolls (IR, MAC)
#   3. a file goes from the sender to the receiver
#   4. the sender renews (KUR, forced by a wide renewal window) and sends again
#   5. the CA revokes the sender; the receiver's CRL refresh picks it up
#   6. the next transfer is refused with certificate_revoked (alert 44)
# Prints a table of steps with their timings; stops every process it
# started; exits 0 only when every step behaved as expected.
# Environment: PKIE_BIN, PKIE_BUILD_DIR (default build/), DEMO_KEEP=1 keeps
# the work directory, DEMO_PORT_CA / DEMO_PORT (defaults 18080 / 18443),
# DEMO_NO_BUILD=1 skips the build, DEMO_NO_NETNS=1 stays on plain loopback.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${PKIE_BUILD_DIR:-$SRC/build}
if [ "${DEMO_IN_NETNS:-}" != 1 ] && [ "${DEMO_NO_NETNS:-0}" != 1 ] && [ "${PKIE_IN_NETNS:-}" != 1 ] &&
  [ -x "$SRC/tests/netns-run" ] && "$SRC/tests/netns-run" true 2>/dev/null; then
  if [ "${DEMO_NO_BUILD:-0}" != 1 ]; then
    cmake --build "$BUILD" -j"${JOBS:-2}" >/dev/null
  fi
  DEMO_IN_NETNS=1 DEMO_NO_BUILD=1 exec "$SRC/tests/netns-run" sh "$0" "$@"
fi
if [ "${DEMO_NO_BUILD:-0}" != 1 ]; then
  cmake --build "$BUILD" -j"${JOBS:-2}" >/dev/null
fi
PKIE=${PKIE_BIN:-$BUILD/pkie}
EXIT_SO=${DEMO_EXIT_SO:-$BUILD/exits/cmp.so}
CA_PORT=${DEMO_PORT_CA:-18080}
PORT=${DEMO_PORT:-18443}
for f in "$PKIE" "$EXIT_SO"; do
  [ -e "$f" ] || { echo "demo: missing $f (run make build)" >&2; exit 1; }
done

W=$(mktemp -d /tmp/pkie-demo.XXXXXX)
PIDS=
RESULT=1
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  if [ "${DEMO_KEEP:-0}" = 1 ] || [ "$RESULT" != 0 ]; then
    echo "demo: work directory kept: $W" >&2
  else
    rm -rf "$W"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }
T0=$(now_ms)
STEPS=0
FAILED=0
TABLE=$W/table.txt
: >"$TABLE"
# step NAME COMMAND...: run, time it, record ok/FAIL
step() {
  name=$1
  shift
  STEPS=$((STEPS + 1))
  s=$(now_ms)
  printf '\n== step %d: %s\n' "$STEPS" "$name"
  if "$@"; then st=ok; else st=FAIL; FAILED=$((FAILED + 1)); fi
  e=$(now_ms)
  printf '%-3d %-52s %6d ms  %s\n' "$STEPS" "$name" $((e - s)) "$st" >>"$TABLE"
  printf '   -> %s (%d ms)\n' "$st" $((e - s))
  [ "$st" = ok ] || { show_logs; finish; }
}
show_logs() {
  for f in "$W"/*.log; do
    [ -f "$f" ] && { echo "---- $f (tail)"; tail -n 15 "$f"; }
  done
}
finish() {
  echo
  printf "%-3s %-52s %9s  %s\n" step description time result
  cat "$TABLE"
  echo "total $(($(now_ms) - T0)) ms, $STEPS steps, $FAILED failed"
  if [ "$FAILED" = 0 ]; then RESULT=0; echo "demo: every step behaved as expected"; fi
  exit "$RESULT"
}
wait_for() { # FILE PATTERN SECONDS [PID that must stay alive]
  i=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1))
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then echo "   process $4 exited"; return 1; fi
    [ $i -le $(($3 * 10)) ] || { echo "   timed out waiting for \"$2\" in $1"; return 1; }
    sleep 0.1
  done
}

# ---- the pieces -------------------------------------------------------------
ca_start() {
  mkdir -p "$W/ca-pass" && echo "demo-ca-passphrase" >"$W/ca-pass/pass"
  "$PKIE" ca init --dir "$W/ca" --subject "/O=pkie demo/CN=Demo Root CA" \
    --pass-file "$W/ca-pass/pass" >"$W/ca-init.out" 2>&1 || { cat "$W/ca-init.out"; return 1; }
  for who in receiver sender; do
    printf 'demo-secret-%s\n' "$who" >"$W/ca-pass/$who.secret"
    "$PKIE" ca client add --dir "$W/ca" --ref "$who" --secret-file "$W/ca-pass/$who.secret" \
      --subject-pattern "O=pkie demo,CN=$who" --san-pattern "DNS:*.demo.test" \
      --pass-file "$W/ca-pass/pass" >/dev/null 2>"$W/ca-client.out" ||
      { cat "$W/ca-client.out"; return 1; }
  done
  "$PKIE" ca serve --dir "$W/ca" --listen "127.0.0.1:$CA_PORT" --pass-file "$W/ca-pass/pass" \
    >"$W/ca.log" 2>&1 &
  CA_PID=$!
  PIDS="$PIDS $CA_PID"
  wait_for "$W/ca.log" "serving" 10 "$CA_PID" || return 1
  cp "$W/ca/root.crt" "$W/trust-anchor.pem"
  echo "   CA \"Demo Root CA\" serves CMP at http://127.0.0.1:$CA_PORT/pkix/ (pid $CA_PID)"
}

# exit_conf WHO RENEW_BEFORE REFRESH
exit_conf() {
  cat >"$W/$1-exit.conf" <<CONF
ca_url = http://127.0.0.1:$CA_PORT/pkix/
ref = $1
secret_file = $W/ca-pass/$1.secret
subject = /O=pkie demo/CN=$1
san = DNS:$1.demo.test
key_type = ec:P-256
renew_before = $2
trust_anchor = $W/trust-anchor.pem
dir = $W/$1-private
refresh = $3
retry_min = 1s
retry_max = 10s
CONF
}

recv_start() {
  mkdir -p "$W/in"
  exit_conf receiver 30d 1s
  cat >"$W/recv.conf" <<CONF
listen = 127.0.0.1:$PORT
dir = $W/in
tasks = 2
audit = $W/audit.log
log_level = info
partner.sender.subject = CN=sender,O=pkie demo
pki.type = exit
pki.exit.libpath = $EXIT_SO
pki.exit.conf = $W/receiver-exit.conf
CONF
  "$PKIE" recv --conf "$W/recv.conf" >"$W/recv.log" 2>&1 &
  RECV_PID=$!
  PIDS="$PIDS $RECV_PID"
  wait_for "$W/recv.log" "listening on" 20 "$RECV_PID" || return 1
  grep "enrolled (IR" "$W/recv.log" | sed 's/^/   /'
  grep -q "enrolled (IR" "$W/recv.log"
}

sender_conf() {
  exit_conf sender "$1" 1h
  cat >"$W/send.conf" <<CONF
state_dir = $W/send-state
log_level = info
partner.hq.address = 127.0.0.1:$PORT
partner.hq.subject = CN=receiver,O=pkie demo
pki.type = exit
pki.exit.libpath = $EXIT_SO
pki.exit.conf = $W/sender-exit.conf
CONF
}

# send_file NAME OUT: one pkie send run (its own process: StartTask enrolls,
# renews or reuses the stored identity)
send_file() {
  head -c 100000 /dev/urandom >"$W/$1"
  "$PKIE" send --conf "$W/send.conf" --to hq --retries 0 "$W/$1" >"$W/$2" 2>&1
}

sender_enroll() {
  sender_conf 30d
  send_file hello.bin send1.log || { cat "$W/send1.log"; return 1; }
  grep "enrolled (IR" "$W/send1.log" | sed 's/^/   /'
  grep -q "enrolled (IR" "$W/send1.log" && cmp -s "$W/hello.bin" "$W/in/sender/hello.bin" &&
    echo "   hello.bin (100000 bytes) arrived intact"
}

sender_serial() { openssl x509 -noout -serial -in "$W/sender-private/identity.pem" | sed 's/serial=//' | tr 'A-F' 'a-f'; }

sender_renew() {
  OLD_SERIAL=$(sender_serial)
  sender_conf 400d # wider than the validity: renewal due now
  send_file renewed.bin send2.log || { cat "$W/send2.log"; return 1; }
  sender_conf 30d
  grep "renewed (KUR)" "$W/send2.log" | sed 's/^/   /'
  NEW_SERIAL=$(sender_serial)
  echo "   serial $OLD_SERIAL -> $NEW_SERIAL"
  grep -q "renewed (KUR)" "$W/send2.log" && [ "$OLD_SERIAL" != "$NEW_SERIAL" ] &&
    cmp -s "$W/renewed.bin" "$W/in/sender/renewed.bin" && echo "   renewed.bin arrived with the new certificate"
}

revoke_sender() {
  serial=$(sender_serial)
  openssl x509 -in "$W/sender-private/identity.pem" -out "$W/sender-cert.pem"
  # rr for the sender's current certificate, authenticated with the sender's
  # reference and secret (the administrator's way to revoke it over CMP)
  "$PKIE" cmp -cmd rr -server "127.0.0.1:$CA_PORT/pkix/" -ref sender \
    -secret "file:$W/ca-pass/sender.secret" -oldcert "$W/sender-cert.pem" \
    -trusted "$W/trust-anchor.pem" -revreason 1 >"$W/revoke.out" 2>&1 ||
    { cat "$W/revoke.out"; return 1; }
  echo "   pkie cmp -cmd rr: serial $serial revoked (keyCompromise)"
  "$PKIE" ca list --dir "$W/ca" --revoked 2>/dev/null | sed 's/^/   pkie ca list --revoked: /'
  wait_for "$W/recv.log" "CRL updated: [1-9]" 10 "$RECV_PID" || return 1
  grep "CRL updated: [1-9]" "$W/recv.log" | tail -n 1 | sed 's/^/   receiver: /'
}

refused_revoked() {
  if send_file after-revoke.bin send3.log; then
    echo "   transfer accepted although the sender is revoked"
    return 1
  fi
  # TLS 1.3: the receiver checks the client's certificate after the client
  # finished its handshake, so the sender may see the alert or a failed write
  grep "^pkie send" "$W/send3.log" | head -n 1 | sed 's/^/   sender: /'
  wait_for "$W/recv.log" "failed (alert 44)" 5 "$RECV_PID" || return 1
  grep "failed (alert 44)" "$W/recv.log" | tail -n 1 | sed 's/^.*\[recv\] /   receiver: /'
  [ ! -e "$W/in/sender/after-revoke.bin" ]
}

echo "pkie demo: CA, receiver and sender on 127.0.0.1 (work directory $W)"
step "CA: pkie ca init, client add, serve (CMP/HTTP)" ca_start
step "receiver: pkie recv starts, exit enrolls (IR, MAC)" recv_start
step "sender: enrolls (IR, MAC) and sends hello.bin" sender_enroll
step "sender: renews (KUR, signed), sends again" sender_renew
step "CA revokes the sender (rr); receiver gets the CRL" revoke_sender
step "next transfer refused: certificate_revoked (44)" refused_revoked
finish
