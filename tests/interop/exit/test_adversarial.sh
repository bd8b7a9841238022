#!/bin/sh
# Hostile exits under isolation (pki.exit.isolation = process, the default):
# an exit that crashes (SIGSEGV, abort), calls exit(), loops, sleeps, closes
# descriptors it does not own, prints to stdout or tries to run programs, in
# several phases, as server (against openssl s_client, TLS 1.3) and as client
# (against openssl s_server, TLS 1.2). Each time the process survives, the
# session fails closed with a log line naming the exit, the phase, the session
# and the cause, and the next session is served (as server within 1 s more
# than a plain session takes on this machine). Then SIGTERM during a hanging
# call ends the server promptly.
. "$(dirname "$0")/lib.sh"
TRIG=$W/trigger
TO=2
LIB=exit_adversarial.so
# In a sanitizer build the helper must die of its signal or exit with its own
# status, as in a normal build (not through the sanitizer's handlers).
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:handle_abort=0:detect_leaks=0"
export ASAN_OPTIONS
now_ms() { echo $(($(date +%s%N) / 1000000)); }

cause_of() { # MODE: the cause the log line must give
  case $1 in
  segv) echo "killed by signal 11 (SIGSEGV)" ;;
  abort) echo "killed by signal 6 (SIGABRT)" ;;
  exit) echo "exited with status 3" ;;
  loop | sleep) echo "no answer within $((TO * 1000)) ms (helper killed)" ;;
  closefd) echo "channel closed: helper pid [0-9]* exited with status 126" ;;
  esac
}
phase_name() {
  case $1 in
  2) echo StartHandshake ;; 3) echo GetCertificate ;; 4) echo GetCAList ;;
  5) echo CheckCertificate ;; 6) echo CryptData ;; 8) echo HandshakeDone ;; 9) echo EndSession ;;
  esac
}

# ---- server ----
for mode in segv abort exit loop sleep closefd stdout run; do
  # shellcheck disable=SC2046
  conf adv pki.type=exit "pki.exit.libpath=$TEXITS/$LIB" "pki.exit.conf=$mode $TRIG" \
    "pki.exit.timeout=$TO" $(internal_keys)
  phases="2 4 5 6 8 9"
  [ "$mode" = loop ] || [ "$mode" = sleep ] && phases="2 6 8"
  np=$(echo $phases | wc -w)
  server adv $((2 * np + 1)) --cert-id srv-ec --ca-id root
  # a plain session first: what a session costs here without a restart (the
  # next session after a failure must be served within 1 s more than that)
  t0=$(now_ms)
  sclient tls1_3 cli-ec
  base=$(($(now_ms) - t0))
  n=1
  for ph in $phases; do
    pn=$(phase_name "$ph")
    echo "$ph" >"$TRIG"
    sclient tls1_3 cli-ec
    cp "$W/sc.out" "$W/sc.bad"
    t0=$(now_ms)
    sclient tls1_3 cli-ec
    dt=$(($(now_ms) - t0))
    bad=$((n + 1)) good=$((n + 2))
    n=$good
    check "server $mode $pn: trigger consumed" test ! -e "$TRIG"
    if [ "$mode" = stdout ] || [ "$mode" = run ] || [ "$ph" = 9 ]; then
      check "server $mode $pn: session $bad ok" has srv.out "session $bad ok"
    else
      check "server $mode $pn: session $bad refused" has srv.out "session $bad refused"
      check "server $mode $pn: s_client got no reply" hasnt sc.bad "^pong"
      # (StartHandshake: before any TLS record; HandshakeDone: the session is
      # closed after the handshake, before any data)
      if [ "$ph" != 2 ] && [ "$ph" != 8 ]; then
        check "server $mode $pn: s_client got alert 80" has sc.bad "alert internal error"
      fi
      c=$(cause_of "$mode")
      check "server $mode $pn: log names exit, phase, session, cause" \
        grep -q "exit $LIB phase $pn: task 1 session $bad: .*$c" "$W/srv.out"
    fi
    check "server $mode $pn: next session $good ok" has srv.out "session $good ok"
    check "server $mode $pn: next session served in ${dt} ms (< 1000 + $base)" \
      test "$dt" -lt $((1000 + base))
  done
  server_wait || true
  check "server $mode: served all $((2 * np + 1)) sessions" has srv.out "served ok="
  check "server $mode: the plain session ok" has srv.out "session 1 ok"
  if [ "$mode" = stdout ]; then
    check "server stdout: the exit's output is not in the monitor's" hasnt srv.out XXXXXXXX
  fi
done

# ---- client ----
for mode in segv abort exit loop closefd; do
  # shellcheck disable=SC2046
  conf adv pki.type=exit "pki.exit.libpath=$TEXITS/$LIB" "pki.exit.conf=$mode $TRIG" \
    "pki.exit.timeout=$TO" $(internal_keys)
  phases="2 3 5 6 8"
  [ "$mode" = loop ] && phases="5 6"
  for ph in $phases; do
    pn=$(phase_name "$ph")
    echo "$ph" >"$TRIG"
    SSNACCEPT=2 sserver srv-ec -tls1_2
    "$DRV" client --conf "$W/adv.conf" --port "$PORT" --cert-id cli-ec --ca-id root \
      --count 2 >"$W/cl.out" 2>&1 || true
    sserver_wait
    check "client $mode $pn: session 1 refused" has cl.out "session 1 refused"
    c=$(cause_of "$mode")
    check "client $mode $pn: log names exit, phase, session, cause" \
      grep -q "exit $LIB phase $pn: task 1 session 1: .*$c" "$W/cl.out"
    check "client $mode $pn: session 2 ok" has cl.out "session 2 ok"
  done
done

# ---- SIGTERM during a hanging call: the server ends within the deadline ----
# shellcheck disable=SC2046
conf adv pki.type=exit "pki.exit.libpath=$TEXITS/$LIB" "pki.exit.conf=sleep $TRIG" \
  pki.exit.timeout=60 $(internal_keys)
server adv 5 --cert-id srv-ec --ca-id root
echo 6 >"$TRIG"
(sclient tls1_3 cli-ec) &
CPID=$!
i=0
while [ -e "$TRIG" ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
t0=$(now_ms)
kill -TERM "$SPID"
server_wait || true
dt=$(($(now_ms) - t0))
wait "$CPID" 2>/dev/null || true
check "SIGTERM in a 60 s exit call: the server ended in ${dt} ms (< 5000)" test "$dt" -lt 5000
check "SIGTERM: the call reported the stop" grep -q "the process is stopping" "$W/srv.out"
finish
