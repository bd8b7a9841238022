#!/bin/sh
# bench/cmp_client/instr.sh (issue 13): instructions of one client process
# (valgrind --tool=callgrind, the client only: the mock server runs outside
# valgrind) for the per-process IR + certConf of bench/cmp_client/run.sh,
# `pkie cmp` and `openssl cmp -keep_alive 0`, against the same OpenSSL mock
# server in a private network namespace. Instruction counts do not depend on
# the machine's load, unlike run.sh's wall times.
#   PKIE_BENCH_INSTR_OUT=DIR  keep the callgrind.out files there (for
#                             callgrind_annotate); default: a temporary dir
#   PKIE_BENCH_PKIE           the pkie binary (default build/pkie)
set -eu
cd "$(dirname "$0")/../.."
. bench/lib/build.sh
if [ "${PKIE_IN_NETNS:-}" != 1 ]; then
  bench_build cmp_client pkie
  exec tests/netns-run sh "$0"
fi
PKIE=${PKIE_BENCH_PKIE:-$b/pkie}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_cmp_instr.XXXXXX")
out=${PKIE_BENCH_INSTR_OUT:-$work}
mkdir -p "$out"
CMPMOCK_NO_TRAP=1
PKIE_SRC_DIR=$(pwd)
. tests/interop/lib/cmpmock.sh
trap 'cmpmock_cleanup; rm -rf "$work"' EXIT
P=$work/pki
sh tests/interop/lib/testpki.sh "$P" >/dev/null
cmpmock_pki "$P"
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" >/dev/null

common="-server $CMPMOCK_URL -cmd ir -ref test -secret pass:test -newkey $P/new-ec.key -subject /CN=bench -certout $work/cert.pem"
vg="valgrind --tool=callgrind --callgrind-out-file"
instr() { # instr NAME CMD...: runs CMD under callgrind, prints its total
  _name=$1
  shift
  if ! $vg="$out/callgrind.out.$_name" "$@" >"$work/$_name.log" 2>&1; then
    cat "$work/$_name.log" >&2
    exit 1
  fi
  _ir=$(sed -n 's/^summary: *//p' "$out/callgrind.out.$_name")
  printf '%s\n' "$_ir"
}
# shellcheck disable=SC2086
o=$(instr pkie "$PKIE" cmp -config "" -verbosity 3 $common)
# shellcheck disable=SC2086
b=$(instr openssl openssl cmp -config "" -batch -verbosity 3 -keep_alive 0 $common)
printf 'RESULT per_process_instructions ours=%.1fM baseline=%.1fM ratio=%.2f\n' \
  "$(echo "$o / 1000000" | bc -l)" "$(echo "$b / 1000000" | bc -l)" "$(echo "$b / $o" | bc -l)"
