#!/bin/sh
# bench/ca_enroll/keygen_instr.sh (issue 14): instructions per enrollment
# (callgrind; independent of the machine's load) of the keygen part of run.sh:
# signed cr with a client-generated P-256 key (sig) and with central key
# generation to the client's EC certificate (keygen), client and server apart.
#   client: bench_ca_enroll, 1 thread, PKIE_BENCH_KG_INSTR (50) cr under
#           callgrind, minus a run of 1 (start-up, credentials), per cr
#   server: pkie-ca serve under callgrind, counters zeroed after a warm-up,
#           dumped after the cr of each mode, per cr
# Needs valgrind. Runs in a private network namespace; builds in build/ (or
# $PKIE_BENCH_BUILD), the normal RelWithDebInfo build.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib/build.sh
command -v valgrind >/dev/null || { echo "bench/ca_enroll: valgrind needed (scripts/deps.sh)" >&2; exit 1; }
if [ "${PKIE_IN_NETNS:-}" != 1 ]; then
  bench_build ca_enroll pkie pkie-ca bench_ca_enroll
  exec tests/netns-run sh "$0"
fi
N=${PKIE_BENCH_KG_INSTR:-50}
PKIE=$(pwd)/$b/pkie
BENCH=$(pwd)/$b/bench/bench_ca_enroll
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_kg_instr.XXXXXX")
SRV=
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
export PKIE_CA_PASS=bench-pass
"$PKIE" ca init --dir "$work/ca" --subject "/CN=Bench Root/O=pkie" >/dev/null
printf 'benchsecret\n' >"$work/secret"
"$PKIE" ca client add --dir "$work/ca" --ref bench --secret-file "$work/secret" \
  --subject-pattern "CN=*" --central-keygen allow
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ec.key" 2>/dev/null
# serve (under callgrind with VG set) and wait for its port
serve() {
  : >"$work/serve.log"
  $VG "$(pwd)/$b/pkie-ca" serve --dir "$work/ca" --listen 127.0.0.1:0 --threads 4 \
    --log-level warn >"$work/serve.log" 2>"$work/serve.err" &
  SRV=$!
  _i=0
  while ! grep -q "port " "$work/serve.log" 2>/dev/null; do
    _i=$((_i + 1)); [ $_i -gt 600 ] && { cat "$work/serve.err"; exit 1; }; sleep 0.1
  done
  URL="http://127.0.0.1:$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$work/serve.log")/pkix/"
}
stop() { kill "$SRV"; wait "$SRV" 2>/dev/null || :; SRV=; }
enroll() { # MODE COUNT [valgrind args...]
  _m=$1 _n=$2
  shift 2
  "$@" "$BENCH" "$URL" - - 1 "$_n" "$_m" "$work/client.crt" "$work/ec.key" "$work/ca/root.crt" >/dev/null
}
summary() { sed -n 's/^summary: //p' "$1"; }
VG=
serve
"$PKIE" cmp -config "" -server "${URL#http://}" -cmd ir -ref bench -secret pass:benchsecret \
  -newkey "$work/ec.key" -subject /CN=bench-client -implicit_confirm -certout "$work/client.crt" \
  -trusted "$work/ca/root.crt" -verbosity 3
enroll keygen 5
for m in sig keygen; do
  enroll $m "$N" valgrind -q --tool=callgrind --callgrind-out-file="$work/cli_$m"
  enroll $m 1 valgrind -q --tool=callgrind --callgrind-out-file="$work/cli1_$m"
done
stop
VG="valgrind -q --tool=callgrind --callgrind-out-file=$work/srv.%p"
serve
enroll keygen 5
enroll sig 5
callgrind_control -z "$SRV" >/dev/null 2>&1
enroll sig "$N"
callgrind_control -d sig "$SRV" >/dev/null 2>&1
enroll keygen "$N"
callgrind_control -d keygen "$SRV" >/dev/null 2>&1
stop
per() { echo "$1 / $N / 1000000" | bc -l; }
cs=$(echo "($(summary "$work/cli_sig") - $(summary "$work/cli1_sig")) / ($N - 1) / 1000000" | bc -l)
ck=$(echo "($(summary "$work/cli_keygen") - $(summary "$work/cli1_keygen")) / ($N - 1) / 1000000" | bc -l)
ss=$(per "$(summary "$(ls "$work"/srv.*.1)")")
sk=$(per "$(summary "$(ls "$work"/srv.*.2)")")
printf 'RESULT ca_enroll_central_keygen_instr sig: client=%.2fM server=%.2fM both=%.2fM; keygen: client=%.2fM server=%.2fM both=%.2fM; ratio=%.3f target=>=0.8 (instructions per enrollment, callgrind)\n' \
  "$cs" "$ss" "$(echo "$cs + $ss" | bc -l)" "$ck" "$sk" "$(echo "$ck + $sk" | bc -l)" \
  "$(echo "($cs + $ss) / ($ck + $sk)" | bc -l)"
