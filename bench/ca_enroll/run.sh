#!/bin/sh
# bench/ca_enroll (issue 5): certificate enrollments per second, in one run:
#   library:  PKIE_BENCH_THREADS (32) library clients in one process
#             (bench_ca_enroll: pkie CMP client, ECDSA P-256, MAC protection,
#             implicitConfirm) against `pkie ca serve` on loopback, durable
#             commits (WAL, synchronous=FULL); target >= 1000/s on 2 cores
#   openssl:  `openssl cmp` processes (PKIE_BENCH_PROCS, 8 at a time) against
#             `pkie ca serve` and against OpenSSL's mock CMP server (which only
#             returns a fixed certificate): our server must not be the slower side
#   memory:   the server's VmRSS before, peak during, and after the runs
#             (target < 64 MiB, back to its idle size)
#   keygen:   PKIE_BENCH_KG_TOTAL (1000) cr signed by an EC client certificate
#             with central key generation (the CA makes the P-256 key and returns
#             it in an EnvelopedData to that certificate, key agreement) beside the
#             same number with a client-generated P-256 key, same threads;
#             target >= 0.8x. PKIE_BENCH_ONLY=keygen runs only this part.
# Median of PKIE_BENCH_ROUNDS (5) rounds, interleaved. Runs in a private
# network namespace; builds pkie and bench_ca_enroll in build/ (or
# $PKIE_BENCH_BUILD), the normal RelWithDebInfo build.
set -eu
cd "$(dirname "$0")/../.."
. bench/lib/build.sh
if [ "${PKIE_IN_NETNS:-}" != 1 ]; then
  bench_build ca_enroll pkie bench_ca_enroll
  exec tests/netns-run sh "$0"
fi
THREADS=${PKIE_BENCH_THREADS:-32}
TOTAL=${PKIE_BENCH_TOTAL:-2000}
PROCS=${PKIE_BENCH_PROCS:-48}
KG_TOTAL=${PKIE_BENCH_KG_TOTAL:-1000}
ONLY=${PKIE_BENCH_ONLY:-}
ROUNDS=${PKIE_BENCH_ROUNDS:-5}
PKIE=$(pwd)/$b/pkie
BENCH=$(pwd)/$b/bench/bench_ca_enroll
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_ca_enroll.XXXXXX")
CMPMOCK_NO_TRAP=1
PKIE_SRC_DIR=$(pwd)
. tests/interop/lib/cmpmock.sh
SRV=
trap 'cmpmock_cleanup; [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

export PKIE_CA_PASS=bench-pass
"$PKIE" ca init --dir "$work/ca" --subject "/CN=Bench Root/O=pkie" >/dev/null
printf 'benchsecret\n' >"$work/secret"
"$PKIE" ca client add --dir "$work/ca" --ref bench --secret-file "$work/secret" \
  --subject-pattern "CN=*" --central-keygen allow
"$PKIE" ca serve --dir "$work/ca" --listen 127.0.0.1:0 --threads 16 --log-level warn \
  >"$work/serve.log" 2>&1 &
SRV=$!
i=0
while ! grep -q "port " "$work/serve.log" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 100 ] && { cat "$work/serve.log"; exit 1; }; sleep 0.1
done
PORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$work/serve.log")
rss() { awk '/VmRSS/ {print $2}' "/proc/$SRV/status"; }

P=$work/pki
sh tests/interop/lib/testpki.sh "$P" >/dev/null
cmpmock_pki "$P"
cmpmock_start $CMPMOCK_MAC -rsp_cert "$P/new-ec.crt" >/dev/null
# the EC client certificate that signs the keygen part's requests
"$PKIE" cmp -config "" -server "127.0.0.1:$PORT/pkix/" -cmd ir -ref bench -secret pass:benchsecret \
  -newkey "$P/new-ec.key" -subject /CN=bench-client -implicit_confirm -certout "$work/client.crt" \
  -trusted "$work/ca/root.crt" -verbosity 3 || { echo "bench/ca_enroll: client certificate" >&2; exit 1; }
# keygen MODE: KG_TOTAL signed cr (sig: client-generated key, keygen: central), enrollments/s
keygen() {
  "$BENCH" "http://127.0.0.1:$PORT/pkix/" - - "$THREADS" "$KG_TOTAL" "$1" "$work/client.crt" \
    "$P/new-ec.key" "$work/ca/root.crt" >"$work/kgout" ||
    { echo "bench/ca_enroll: $1 clients failed" >&2; exit 1; }
  awk '{printf "%.1f\n", $1 / $2}' "$work/kgout"
}

now() { date +%s.%N; }
# procs URL REF SECRET: PROCS `openssl cmp` ir (implicitConfirm), 8 at a time; prints enrollments/s
procs() {
  _t0=$(now)
  _i=0
  while [ "$_i" -lt "$PROCS" ]; do
    _pids=
    for _j in 1 2 3 4 5 6 7 8; do
      openssl cmp -config "" -batch -verbosity 3 -cmd ir -server "$1" -ref "$2" \
        -secret "pass:$3" -newkey "$P/new-ec.key" -subject "/CN=bench" -implicit_confirm \
        -certout "$work/p$_j.pem" >"$work/p$_j.log" 2>&1 &
      _pids="$_pids $!"
    done
    for _p in $_pids; do wait "$_p" || { echo "bench/ca_enroll: openssl cmp failed" >&2; cat "$work"/p*.log >&2; exit 1; }; done
    _i=$((_i + 8))
  done
  _t1=$(now)
  echo "$_i / ($_t1 - $_t0)" | bc -l
}

rss_idle=$(rss)
rss_peak=$rss_idle
sample() { _r=$(rss); [ "$_r" -gt "$rss_peak" ] && rss_peak=$_r; :; }
: >"$work/lib"; : >"$work/oss_ours"; : >"$work/oss_mock"; : >"$work/kg_sig"; : >"$work/kg_central"
r=0
while [ "$r" -lt "$ROUNDS" ]; do
  keygen sig >>"$work/kg_sig"
  sample
  keygen keygen >>"$work/kg_central"
  sample
  if [ "$ONLY" = keygen ]; then
    r=$((r + 1))
    continue
  fi
  "$BENCH" "http://127.0.0.1:$PORT/pkix/" bench benchsecret "$THREADS" "$TOTAL" >"$work/out" &
  bp=$!
  while kill -0 "$bp" 2>/dev/null; do sample; sleep 0.2; done
  wait "$bp" || { echo "bench/ca_enroll: library clients failed" >&2; exit 1; }
  awk '{printf "%.1f\n", $1 / $2}' "$work/out" >>"$work/lib"
  procs "127.0.0.1:$PORT/pkix/" bench benchsecret >>"$work/oss_ours"
  sample
  procs "$CMPMOCK_URL" test test >>"$work/oss_mock"
  rounds_rss="${rounds_rss:-}$(rss) "
  r=$((r + 1))
done
sleep 6 # serve trims its heap every 5 s when idle
rss_after=$(rss)

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minmax() { sort -g | awk 'NR==1{mn=$1} {mx=$1} END {printf "min=%.1f max=%.1f", mn, mx}'; }
kgs=$(median <"$work/kg_sig")
kgc=$(median <"$work/kg_central")
printf 'RESULT ca_enroll_central_keygen_per_s ours=%.1f baseline=%.1f ratio=%.2f target=>=0.8 (central P-256 key to an EC client certificate vs client-generated, signed cr, %s threads; %s)\n' \
  "$kgc" "$kgs" "$(echo "$kgc / $kgs" | bc -l)" "$THREADS" "$(minmax <"$work/kg_central")"
if [ "$ONLY" = keygen ]; then
  exit 0
fi
lib=$(median <"$work/lib")
ours=$(median <"$work/oss_ours")
mock=$(median <"$work/oss_mock")
printf 'RESULT ca_enroll_library_per_s ours=%.1f baseline=1000 ratio=%.2f target=>=1.0 (%s)\n' \
  "$lib" "$(echo "$lib / 1000" | bc -l)" "$(minmax <"$work/lib")"
printf 'RESULT ca_enroll_openssl_cmp_procs_per_s ours=%.1f baseline=%.1f ratio=%.2f target=>=1.0 (pkie ca serve vs openssl mock; %s)\n' \
  "$ours" "$mock" "$(echo "$ours / $mock" | bc -l)" "$(minmax <"$work/oss_ours")"
printf 'RESULT ca_enroll_server_rss_kib idle=%s peak=%s after=%s target=peak<65536,after~idle\n' \
  "$rss_idle" "$rss_peak" "$rss_after"
echo "server RSS (KiB) after each round of $TOTAL + $PROCS enrollments: $rounds_rss"
n=$("$PKIE" ca list --dir "$work/ca" | wc -l)
echo "certificates in the CA database: $n (cores: $(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg))"
