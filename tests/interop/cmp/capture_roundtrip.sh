#!/bin/sh
# capture_roundtrip ORACLE: proves the CMP interop harness itself.
# Generates a fresh test PKI, captures every case of capture.sh live against
# OpenSSL's mock CMP server, then checks with the oracle (OpenSSL's own CMP
# code) that every captured message has the expected body type, decodes and
# re-encodes byte-identically, and verifies with the right secret or trust
# anchor; and that the checks do fail on a wrong secret, a wrong trust anchor,
# a flipped byte, a truncated message and a non-DER length.
set -eu
oracle=$1
src=${PKIE_SRC_DIR:?PKIE_SRC_DIR not set}
lib=$src/tests/interop/lib
work=$(mktemp -d "${TMPDIR:-/tmp}/capture_roundtrip.XXXXXX")
CMPMOCK_NO_TRAP=1
. "$lib/cmpmock.sh"
trap 'cmpmock_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "capture_roundtrip: FAIL: $*" >&2
  exit 1
}

out=$work/cap
if ! sh "$lib/capture.sh" "$out" >"$work/capture.log" 2>&1; then
  cat "$work/capture.log" >&2
  fail "capture.sh failed"
fi
P=$out/pki

sh "$lib/checkcap.sh" "$oracle" "$out" || fail "captured messages do not check out"

# the checks must be able to fail (wrong secret, anchor, flipped bytes, ...)
sh "$src/tests/oracle/oracle_negative.sh" "$oracle" "$out" || fail "oracle negative checks"

# the harness: a mock that cannot start is reported, and nothing is left running
if cmpmock_start -no_such_option 2>"$work/neg.out"; then
  fail "cmpmock_start accepted a bad option"
fi
grep -q "did not start" "$work/neg.out" || fail "cmpmock_start: no diagnostic"
[ -z "$(echo $CMPMOCK_PIDS)" ] || fail "mock processes left: $CMPMOCK_PIDS"
exit 0
