#!/bin/sh
# Interop: the PKCS#11 exit called directly (tests/p11drv, as the host calls
# it) by 8 / 4 tasks at once on one SoftHSM2 token: each task its own session,
# one shared login; every signature (ECDSA, RSA PKCS#1 and PSS over SHA-1..512,
# Ed25519) verifies with the leaf; unsupported requests are errors with a text;
# a task naming another token while tasks run is refused; after the last task
# the module is finalized and a new task starts again.
. "$(dirname "$0")/../exit/lib.sh"
. "$S/tests/interop/pkcs11exit/lib.sh"
D=$B/tests/p11drv
cs() { echo "module=$MODULE token=pkie-test key=$1 pin-file=$W/pin chain=$P/$1.chain.pem"; }
other="module=$MODULE token=another key=srv-ec pin-file=$W/pin chain=$P/srv-ec.chain.pem"
run() { # NAME THREADS ITERATIONS [OTHER]
  n=$1
  shift
  "$D" "$P11" "$(cs "$n")" "$@" >"$W/$n.out" 2>&1
  st=$?
  cat "$W/$n.out"
  return $st
}
check "P-256: 8 tasks x 40 ECDSA signatures, another token refused meanwhile" \
  run srv-ec 8 40 "$other"
check "RSA: 4 tasks x 12 PKCS#1 + 12 PSS signatures" run srv-rsa 4 12
check "Ed25519: 4 tasks x 30 signatures" run srv-ed 4 30 "$other"
check "the signature counts add up" sh -c \
  "grep -q 'ok 328 signatures' '$W/srv-ec.out' && grep -q 'ok 100 signatures' '$W/srv-rsa.out' && grep -q 'ok 124 signatures' '$W/srv-ed.out'"
finish
