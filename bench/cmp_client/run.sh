#!/bin/sh
# bench/cmp_client (issue 4): IR transactions (ir + certConf, MAC protection)
# against one OpenSSL mock CMP server on 127.0.0.1, in one run:
#   per_process: N sequential `pkie cmp` processes vs N `openssl cmp` processes
#   in_process:  N transactions in one process by the pkie library
#                (bench_cmp_client) vs `openssl cmp -repeat N`
# Rounds interleaved, median of PKIE_BENCH_ROUNDS (5) rounds of
# PKIE_BENCH_N (20) transactions. Runs inside a private network namespace
# (tests/netns-run). Builds pkie and bench_cmp_client in build/ (or
# $PKIE_BENCH_BUILD), the normal RelWithDebInfo build.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib/build.sh
if [ "${PKIE_IN_NETNS:-}" != 1 ]; then
  bench_build cmp_client pkie bench_cmp_client
  exec tests/netns-run sh "$0"
fi
N=${PKIE_BENCH_N:-20}
ROUNDS=${PKIE_BENCH_ROUNDS:-5}
PKIE=$b/pkie
BENCH=$b/bench/bench_cmp_client
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_cmp_client.XXXXXX")
CMPMOCK_NO_TRAP=1
PKIE_SRC_DIR=$(pwd)
. tests/interop/lib/cmpmock.sh
trap 'cmpmock_cleanup; rm -rf "$work"' EXIT
P=$work/pki
sh tests/interop/lib/testpki.sh "$P" >/dev/null
cmpmock_pki "$P"
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" >/dev/null

now() { date +%s.%N; }
common="-server $CMPMOCK_URL -cmd ir -ref test -secret pass:test -newkey $P/new-ec.key -subject /CN=bench -certout $work/cert.pem"

per_process() { # per_process CMD...: seconds for N processes
  _t0=$(now)
  _i=0
  while [ "$_i" -lt "$N" ]; do
    # shellcheck disable=SC2086
    "$@" $common >"$work/last.log" 2>&1 || { echo "bench/cmp_client: $1 failed:" >&2; cat "$work/last.log" >&2; exit 1; }
    _i=$((_i + 1))
  done
  _t1=$(now)
  echo "$_t1 - $_t0" | bc -l
}

in_process_openssl() {
  _t0=$(now)
  # shellcheck disable=SC2086
  openssl cmp -config "" -batch -verbosity 3 $common -repeat "$N" >/dev/null 2>&1 ||
    { echo "bench/cmp_client: openssl cmp -repeat failed" >&2; exit 1; }
  _t1=$(now)
  echo "$_t1 - $_t0" | bc -l
}

in_process_pkie() {
  "$BENCH" "$CMPMOCK_URL" test test "$P/new-ec.key" "$N"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minmax() { sort -g | awk 'NR==1{mn=$1} {mx=$1} END {printf "min=%s max=%s", mn, mx}'; }

: >"$work/pp_ours"; : >"$work/pp_base"; : >"$work/ip_ours"; : >"$work/ip_base"
r=0
while [ "$r" -lt "$ROUNDS" ]; do
  per_process "$PKIE" cmp -verbosity 3 >>"$work/pp_ours"
  per_process openssl cmp -config "" -batch -verbosity 3 >>"$work/pp_base"
  in_process_pkie >>"$work/ip_ours"
  in_process_openssl >>"$work/ip_base"
  r=$((r + 1))
done

report() { # report NAME OURS_FILE BASE_FILE TARGET: ms per transaction; ratio = speed-up
  _o=$(median <"$2")
  _b=$(median <"$3")
  _oms=$(echo "1000 * $_o / $N" | bc -l)
  _bms=$(echo "1000 * $_b / $N" | bc -l)
  _ratio=$(echo "$_b / $_o" | bc -l)
  printf 'RESULT %s_ms_per_txn ours=%.2f baseline=%.2f ratio=%.2f target=%s\n' "$1" "$_oms" "$_bms" "$_ratio" "$4"
  printf '  (%s rounds of %s; ours %s; baseline %s; ratio = baseline time / ours)\n' \
    "$ROUNDS" "$N" "$(minmax <"$2")" "$(minmax <"$3")"
}
report per_process "$work/pp_ours" "$work/pp_base" ">=3"
report in_process "$work/ip_ours" "$work/ip_base" ">=1.5"
