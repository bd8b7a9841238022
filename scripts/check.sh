#!/bin/sh
# The whole test suite, as `make check` runs it:
#   1. formatting check, and the independent peers fetched (scripts/peers.sh)
#   2. normal build (gcc, -Werror) and every CTest label
#   3. sanitizer build (ASan + UBSan) and every CTest label
#   4. fuzz build (clang + libFuzzer): a short burst of every fuzz target
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)
CTEST_ARGS="--output-on-failure --no-tests=error -j$JOBS"

step() { printf '\n==== %s ====\n' "$*"; }

step "format"
sh scripts/format.sh --check

# The interop tests run in a private network namespace (tests/netns-run),
# where nothing can be fetched: the independent peers (OpenSSL 3.0 and 3.5
# sources, OpenSSL 3.5 built no-shared) are fetched and built here first,
# into PKIE_PEER_CACHE outside the clone (only when missing).
step "peers (scripts/peers.sh, cached in ${PKIE_PEER_CACHE:-/var/cache/pkie-peers})"
sh scripts/peers.sh src30 >/dev/null
sh scripts/peers.sh src35 >/dev/null
sh scripts/peers.sh openssl35 >/dev/null

step "normal build (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
step "tests: normal build"
(cd build && ctest $CTEST_ARGS)

step "sanitizer build (build-asan/, ASan+UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPKIE_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"
step "tests: sanitizer build"
(cd build-asan && ctest $CTEST_ARGS)

step "fuzz build (build-fuzz/, clang + libFuzzer, ${PKIE_FUZZ_BURST_SECONDS:-15}s per target)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPKIE_FUZZ=ON \
  -DPKIE_FUZZ_BURST_SECONDS="${PKIE_FUZZ_BURST_SECONDS:-15}" >/dev/null
cmake --build build-fuzz -j"$JOBS"
step "fuzz bursts"
(cd build-fuzz && ctest --output-on-failure --no-tests=error -L fuzz)

step "make check: all passed"
