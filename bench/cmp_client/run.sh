#!/bin/sh
# bench/cmp_client (issues 4 and 13): IR transactions (ir + certConf, MAC
# protection) against one OpenSSL mock CMP server on 127.0.0.1, in one run,
# each against `openssl cmp -keep_alive 0` (a new connection per message:
# OpenSSL 3.0's client and mock server stall about 40 ms per kept-alive
# message, which would flatter us):
#   per_process: the wall time of one `pkie cmp` process vs one
#                `openssl cmp -keep_alive 0` process, alternated
#                PKIE_BENCH_PP_N (30) times each (bench_spawn); medians.
#   in_process:  N transactions in one process by the pkie library
#                (bench_cmp_client, its own clock) vs the marginal cost of a
#                transaction of `openssl cmp -repeat N -keep_alive 0`
#                ((wall of -repeat N - wall of -repeat 1) / (N - 1), so that
#                neither side pays its start-up); median of PKIE_BENCH_ROUNDS
#                (5) rounds of PKIE_BENCH_N (20) transactions.
# Runs inside a private network namespace (tests/netns-run). Builds pkie,
# bench_cmp_client and bench_spawn in build/ (or $PKIE_BENCH_BUILD), the
# normal RelWithDebInfo build; PKIE_BENCH_PKIE / PKIE_BENCH_CLIENT measure
# other binaries (e.g. a copy of an older build) with the same script. At the
# end, bench/cmp_client/instr.sh gives the per-process figures in instructions
# (callgrind), which the load of the machine does not move.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib/build.sh
if [ "${PKIE_IN_NETNS:-}" != 1 ]; then
  bench_build cmp_client pkie bench_cmp_client bench_spawn
  exec tests/netns-run sh "$0"
fi
N=${PKIE_BENCH_N:-20}
ROUNDS=${PKIE_BENCH_ROUNDS:-5}
PP_N=${PKIE_BENCH_PP_N:-30}
PKIE=${PKIE_BENCH_PKIE:-$b/pkie}
BENCH=${PKIE_BENCH_CLIENT:-$b/bench/bench_cmp_client}
SPAWN=$b/bench/bench_spawn
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_cmp_client.XXXXXX")
CMPMOCK_NO_TRAP=1
PKIE_SRC_DIR=$(pwd)
. tests/interop/lib/cmpmock.sh
trap 'cmpmock_cleanup; rm -rf "$work"' EXIT
P=$work/pki
sh tests/interop/lib/testpki.sh "$P" >/dev/null
cmpmock_pki "$P"
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" >/dev/null

load0=$(cut -d' ' -f1-3 /proc/loadavg)
common="-server $CMPMOCK_URL -cmd ir -ref test -secret pass:test -newkey $P/new-ec.key -subject /CN=bench -certout $work/cert.pem"
ours="$PKIE cmp -config '' -verbosity 3 $common"
base="openssl cmp -config '' -batch -verbosity 3 -keep_alive 0 $common"

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minmax() { sort -g | awk 'NR==1{mn=$1} {mx=$1} END {printf "min=%s max=%s", mn, mx}'; }

# the command lines, checked once each (a failure prints its output)
# shellcheck disable=SC2086
$PKIE cmp -config "" -verbosity 3 $common >"$work/check.log" 2>&1 || { cat "$work/check.log" >&2; exit 1; }
# shellcheck disable=SC2086
openssl cmp -config '' -batch -verbosity 3 -keep_alive 0 $common >"$work/check.log" 2>&1 ||
  { cat "$work/check.log" >&2; exit 1; }

# per process
# shellcheck disable=SC2086
"$SPAWN" "$PP_N" $PKIE cmp -config "" -verbosity 3 $common -- \
  openssl cmp -config "" -batch -verbosity 3 -keep_alive 0 $common >"$work/pp"
awk '$1 == "a" {print $2}' "$work/pp" >"$work/pp_ours"
awk '$1 == "b" {print $2}' "$work/pp" >"$work/pp_base"

# in process
: >"$work/ip_ours"
: >"$work/ip_mock_ticks"
# the mock server's CPU (user + system clock ticks) while our in-process rounds
# run: what a transaction costs the server alone, a floor under ours
mock_ticks() { awk '{ print $14 + $15 }' "/proc/$CMPMOCK_PID/stat"; }
: >"$work/ip_base"
r=0
while [ "$r" -lt "$ROUNDS" ]; do
  _t0=$(mock_ticks)
  "$BENCH" "$CMPMOCK_URL" test test "$P/new-ec.key" "$N" | awk -v n="$N" '{printf "%.4f\n", 1000 * $1 / n}' >>"$work/ip_ours"
  echo $(($(mock_ticks) - _t0)) >>"$work/ip_mock_ticks"
  # shellcheck disable=SC2086
  "$SPAWN" 1 openssl cmp -config "" -batch -verbosity 3 -keep_alive 0 $common -repeat "$N" -- \
    openssl cmp -config "" -batch -verbosity 3 -keep_alive 0 $common -repeat 1 |
    awk -v n="$N" '$1 == "a" {a = $2} $1 == "b" {b = $2} END {printf "%.4f\n", (a - b) / (n - 1)}' >>"$work/ip_base"
  r=$((r + 1))
done

report() { # report NAME OURS_FILE BASE_FILE TARGET: ms per transaction; ratio = speed-up
  _o=$(median <"$2")
  _b=$(median <"$3")
  _ratio=$(echo "$_b / $_o" | bc -l)
  printf 'RESULT %s_ms_per_txn ours=%.2f baseline=%.2f ratio=%.2f target=%s\n' "$1" "$_o" "$_b" "$_ratio" "$4"
  printf '  (%s; ours %s; baseline %s; ratio = baseline time / ours)\n' "$5" "$(minmax <"$2")" "$(minmax <"$3")"
}
echo "load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ours:     $ours"
echo "baseline: $base (in process: -repeat $N minus -repeat 1)"
echo "libraries loaded: pkie $(ldd "$PKIE" | wc -l), openssl $(ldd "$(command -v openssl)" | wc -l)"
report per_process "$work/pp_ours" "$work/pp_base" ">=2" "$PP_N processes each, alternated"
report in_process "$work/ip_ours" "$work/ip_base" ">=3" "$ROUNDS rounds of $N"
_mock=$(awk -v n="$((ROUNDS * N))" -v hz="$(getconf CLK_TCK)" '{ t += $1 } END { printf "%.2f", t * 1000 / hz / n }' "$work/ip_mock_ticks")
echo "info mock_server_cpu_ms_per_txn $_mock (during our in-process rounds; in-process speed-up at most baseline / this)"
# the same per-process comparison in instructions (load-independent), when
# valgrind is there
if command -v valgrind >/dev/null 2>&1; then
  sh bench/cmp_client/instr.sh
fi
