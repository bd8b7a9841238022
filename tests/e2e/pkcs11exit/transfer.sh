#!/bin/bash
# e2e: pkie send -> pkie recv where the receiver's private key lives only in a
# throwaway SoftHSM2 token (PKCS#11 exit; its PKI base holds the root CA and no
# key). 4 SSL tasks share the token's login, each with its own PKCS#11
# session; 8 senders at once. Files arrive identical, every TLS signature of
# the receiver is a C_Sign in the token, and after SIGTERM the exit has
# finalized (clean stop).
. "$PKIE_SRC_DIR/tests/e2e/transfer/lib.sh"
xfer_setup
MODULE=${PKIE_SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
[ -f "$MODULE" ] || xfer_fail "SoftHSM2 module $MODULE missing (scripts/deps.sh)"
export SOFTHSM2_CONF=$W/softhsm2.conf
mkdir -p "$W/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$W/tokens" >"$SOFTHSM2_CONF"
hsm() { softhsm2-util "$@" >>"$W/softhsm.out" 2>&1 || xfer_fail "softhsm2-util: $(cat "$W/softhsm.out")"; }
hsm --init-token --free --label pkie-recv --pin 246810 --so-pin 13579
hsm --import "$W/pki/recv.key" --token pkie-recv --label recv --id 01 --pin 246810
echo 246810 >"$W/pki/pin"
chmod 600 "$W/pki/pin"
# the receiver's base: the root only, no key
pki recv0.db init
pki recv0.db import --id root --type root --cert "$W/pki/root.crt"
sed -i -e "s|^pki.base = .*|pki.base = $W/recv0.db|" \
  -e "s|^pki.exit.libpath = .*|pki.exit.libpath = $BUILD/exits/pkcs11.so|" \
  -e "s|^pki.exit.conf = .*|pki.exit.conf = module=$MODULE token=pkie-recv key=recv pin-file=$W/pki/pin chain=$W/pki/recv.crt log=$W/sign.log|" \
  -e "s|^tasks = .*|tasks = 4|" "$W/recv.conf"
grep -q "pkcs11.so" "$W/recv.conf" || xfer_fail "recv.conf not rewritten"
xfer_recv_start

mkfile one 1
mkfile mib 1048576
send "$W/src/one" "$W/src/mib" --json >"$W/send.json" || xfer_fail "pkie send: $(cat "$W/send.json")"
grep -q '"ok":true' "$W/send.json" || xfer_fail "summary not ok"
for f in one mib; do cmp "$W/src/$f" "$W/in/$f" || xfer_fail "$f differs"; done
echo "ok: 1 B and 1 MiB identical, receiver key in the token"

send_parallel 8
echo "ok: 8 senders at once"

xfer_recv_stop
signed=$(grep -c "role=server .* ok sig_len=" "$W/sign.log" || true)
[ "$signed" -ge 9 ] || xfer_fail "only $signed signatures in the token's log (9 sessions or more expected)"
grep -v -q "mech=CKM_ECDSA ok" "$W/sign.log" && xfer_fail "a CryptData was not a CKM_ECDSA success: $(grep -v 'mech=CKM_ECDSA ok' "$W/sign.log")"
tasks=$(sed -n 's/.* task=\([0-9]*\) .*/\1/p' "$W/sign.log" | sort -u | wc -l)
echo "ok: $signed signatures in the token (CKM_ECDSA) from $tasks task(s)"
grep -q "pkcs11" "$RECV_LOG" && grep "error.*pkcs11" "$RECV_LOG" && xfer_fail "exit errors in the log"
echo "ok: clean stop"
