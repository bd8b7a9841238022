#!/bin/sh
# bench/cmp_codec (issue 3): decode + validate + re-encode of a MAC-protected
# IR and a signed IP with a 3-certificate chain, pkie against
# d2i/i2d_OSSL_CMP_MSG, and protection checks against bare HMAC / signature
# verification, in one run. Builds bench_cmp_codec in build/ (or
# $PKIE_BENCH_BUILD), the normal RelWithDebInfo build, and runs it over the
# fixtures in tests/data/cmp. Rounds / seconds per measurement:
# PKIE_BENCH_ROUNDS (15), PKIE_BENCH_SECONDS (0.1).
set -eu
cd "$(dirname "$0")/../.."
b=${PKIE_BENCH_BUILD:-build}
if [ ! -f "$b/CMakeCache.txt" ]; then
  cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
if ! cmake --build "$b" -j2 --target bench_cmp_codec >"$b/bench_cmp_codec.build.log" 2>&1; then
  cat "$b/bench_cmp_codec.build.log" >&2
  echo "bench/cmp_codec: build failed" >&2
  exit 1
fi
exec "$b/bench/bench_cmp_codec" tests/data/cmp
