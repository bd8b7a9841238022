#!/bin/sh
# CLI test of `pkie cmp dump` over the captured messages: exit status,
# round-trip, MAC and signature verification, JSON output, errors.
set -u
PKIE=${PKIE_BIN:?}
D=${PKIE_TEST_DATA:?}/cmp
fails=0
check() { # expected-status description command...
    want=$1; what=$2; shift 2
    "$@" >/tmp/pkie_dump_out.$$ 2>/tmp/pkie_dump_err.$$
    got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $what: exit $got, wanted $want"; cat /tmp/pkie_dump_err.$$; fails=$((fails + 1))
    else
        echo "ok: $what"
    fi
}
check 0 "help" "$PKIE" cmp dump --help
check 0 "all captured messages decode and round-trip" sh -c "\"$PKIE\" cmp dump \"$D\"/*.der >/dev/null"
check 0 "MAC verifies with pass:test" "$PKIE" cmp dump --secret pass:test "$D/ir_mac.req1.der"
grep -q "verified (MAC)" /tmp/pkie_dump_out.$$ || { echo "FAIL: no MAC verdict"; fails=$((fails + 1)); }
check 1 "wrong secret" "$PKIE" cmp dump --secret pass:wrong "$D/ir_mac.req1.der"
PKIE_DUMP_SECRET=test check 0 "secret from env:" env PKIE_DUMP_SECRET=test "$PKIE" cmp dump --secret env:PKIE_DUMP_SECRET "$D/ir_mac.rsp1.der"
printf 'test\n' >/tmp/pkie_dump_secret.$$
check 0 "secret from file:" "$PKIE" cmp dump --secret file:/tmp/pkie_dump_secret.$$ "$D/ir_mac.rsp2.der"
check 0 "signature chain to root" "$PKIE" cmp dump --trusted "$D/pki/root.crt" "$D/ip_chain.rsp1.der" "$D/cr_sig.req1.der"
grep -q "verified (signature)" /tmp/pkie_dump_out.$$ || { echo "FAIL: no signature verdict"; fails=$((fails + 1)); }
check 1 "signature against another root" "$PKIE" cmp dump --trusted "$D/pki/other-root.crt" "$D/ip_chain.rsp1.der"
check 1 "unprotected message when verification asked" "$PKIE" cmp dump --secret pass:test "$D/ir_unprot.req1.der"
check 0 "json" "$PKIE" cmp dump --json "$D/poll.rsp2.der" "$D/genm_caCerts.rsp1.der"
lines=$(wc -l </tmp/pkie_dump_out.$$)
[ "$lines" -eq 2 ] || { echo "FAIL: json lines $lines"; fails=$((fails + 1)); }
if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' /tmp/pkie_dump_out.$$ ||
        { echo "FAIL: invalid JSON"; fails=$((fails + 1)); }
fi
# PEM input with two blocks
{ printf -- '-----BEGIN CMP MESSAGE-----\n'; base64 "$D/ir_mac.req1.der"; printf -- '-----END CMP MESSAGE-----\n'
  printf -- '-----BEGIN CMP MESSAGE-----\n'; base64 "$D/ir_mac.rsp1.der"; printf -- '-----END CMP MESSAGE-----\n'; } >/tmp/pkie_dump_pem.$$
check 0 "PEM with two messages" "$PKIE" cmp dump --secret pass:test /tmp/pkie_dump_pem.$$
[ "$(grep -c 're-encoding: identical' /tmp/pkie_dump_out.$$)" -eq 2 ] || { echo "FAIL: PEM count"; fails=$((fails + 1)); }
# a truncated message
head -c 100 "$D/ir_mac.req1.der" >/tmp/pkie_dump_trunc.$$
check 1 "truncated message" "$PKIE" cmp dump /tmp/pkie_dump_trunc.$$
check 1 "missing file" "$PKIE" cmp dump /nonexistent/file.der
check 1 "unknown option" "$PKIE" cmp dump --frobnicate "$D/ir_mac.req1.der"
check 1 "no file" "$PKIE" cmp dump
check 1 "bad secret spec" "$PKIE" cmp dump --secret test "$D/ir_mac.req1.der"
rm -f /tmp/pkie_dump_out.$$ /tmp/pkie_dump_err.$$ /tmp/pkie_dump_secret.$$ /tmp/pkie_dump_pem.$$ /tmp/pkie_dump_trunc.$$
[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
