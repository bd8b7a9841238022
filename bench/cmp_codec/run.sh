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
. bench/lib/build.sh
bench_build cmp_codec bench_cmp_codec
exec "$b/bench/bench_cmp_codec" tests/data/cmp
