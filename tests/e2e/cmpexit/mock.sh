#!/bin/bash
# e2e: the CMP exit enrolls against OpenSSL's mock CMP server, a second,
# independent CA (the test PKI of tests/interop/lib/testpki.sh, with an
# intermediate): receiver (EC key) and sender (RSA key) each enroll by IR with
# MAC at their own mock, then a file goes from one to the other over TLS with
# certificates, chains and signatures from the exit (RSA-PSS and ECDSA).
. "$(dirname "$0")/lib.sh"
export CMPMOCK_NO_TRAP=1
. "$PKIE_SRC_DIR/tests/interop/lib/cmpmock.sh"
trap 'cmpmock_cleanup; cleanup' EXIT
T=$W/tpki
sh "$PKIE_SRC_DIR/tests/interop/lib/testpki.sh" "$T" >/dev/null || cx_fail "testpki.sh"
cmpmock_pki "$T"
printf 'test\n' >"$W/mock.secret"
# mock_conf WHO URL KEY: exit configuration for the mock (reference "test")
mock_conf() {
  cat >"$W/$1-exit.conf" <<CONF
ca_url = http://$2/
ref = test
secret_file = $W/mock.secret
subject = /O=pkie test PKI/CN=$1
key_file = $3
trust_anchor = $T/root.crt
dir = $W/$1-private
crl_check = no
timeout = 5
retry_min = 30s
CONF
}
# shellcheck disable=SC2086
cmpmock_start $CMPMOCK_MAC -rsp_cert "$T/new-ec.crt" -rsp_extracerts "$T/inter.crt" ||
  cx_fail "mock for the receiver did not start"
RECV_MOCK=$CMPMOCK_URL
# shellcheck disable=SC2086
cmpmock_start $CMPMOCK_MAC -rsp_cert "$T/new-rsa.crt" -rsp_extracerts "$T/inter.crt" ||
  cx_fail "mock for the sender did not start"
SEND_MOCK=$CMPMOCK_URL
mock_conf receiver "$RECV_MOCK" "$T/new-ec.key"
mock_conf sender "$SEND_MOCK" "$T/new-rsa.key"

cx_recv_start "CN=pkie Test New *,O=pkie test PKI"
grep -q "enrolled (IR, MAC)" "$W/recv.log" || cx_fail "receiver did not enroll at the mock"
openssl x509 -in "$W/receiver-private/identity.pem" -out "$W/recv-got.crt"
openssl x509 -in "$T/new-ec.crt" -out "$W/recv-want.crt"
cmp -s "$W/recv-got.crt" "$W/recv-want.crt" || cx_fail "receiver holds another certificate"
echo "ok: receiver enrolled at OpenSSL's mock CMP server"

cat >"$W/send.conf" <<CONF
state_dir = $W/state
partner.hq.address = 127.0.0.1:$PORT
partner.hq.subject = CN=pkie Test New EC,O=pkie test PKI
pki.type = exit
pki.exit.libpath = $EXIT_SO
pki.exit.conf = $W/sender-exit.conf
CONF
head -c 70000 /dev/urandom >"$W/f.bin"
"$PKIE" send --conf "$W/send.conf" --to hq --retries 0 "$W/f.bin" >"$W/send.log" 2>&1 ||
  cx_fail "transfer between the mock-enrolled monitors: $(cat "$W/send.log")"
grep -q "enrolled (IR, MAC)" "$W/send.log" || cx_fail "sender did not enroll at the mock"
cmp -s "$W/f.bin" "$W/in/f.bin" || cx_fail "f.bin differs"
grep -q '"peer_subject":"CN=pkie Test New RSA,O=pkie test PKI"' "$W/audit.log" ||
  cx_fail "audit does not name the RSA sender"
echo "ok: sender (RSA) enrolled at the second mock and sent to the receiver (EC)"

# TLS 1.2 (CryptData signs digests: ECDSA on the receiver, RSA on the sender);
# both restart from their stored identities, without asking the mocks again
kill -TERM "$RECV_PID"
wait "$RECV_PID" 2>/dev/null || true
for c in "$W/recv.conf" "$W/send.conf"; do
  printf 'tls.min_version = TLS1.2\ntls.max_version = TLS1.2\n' >>"$c"
done
"$PKIE" recv --conf "$W/recv.conf" >"$W/recv12.log" 2>&1 &
RECV_PID=$!
CX_PIDS="$CX_PIDS $RECV_PID"
cx_wait "$W/recv12.log" "listening on" 30 "$RECV_PID" || cx_fail "pkie recv (TLS 1.2) did not start"
grep -q "enrolled" "$W/recv12.log" && cx_fail "receiver enrolled again instead of reusing identity.pem"
cp "$W/f.bin" "$W/f12.bin"
"$PKIE" send --conf "$W/send.conf" --to hq --retries 0 "$W/f12.bin" >"$W/send12.log" 2>&1 ||
  cx_fail "TLS 1.2 transfer: $(cat "$W/send12.log")"
cmp -s "$W/f.bin" "$W/in/f12.bin" || cx_fail "f12.bin differs"
grep -q '"tls_version":"TLSv1.2"' "$W/audit.log" || cx_fail "no TLS 1.2 transfer in the audit"
echo "ok: TLS 1.2 transfer with the stored identities (ECDSA and RSA signatures by the exit)"

# negative: a mock that answers with a certificate for another key is refused
# shellcheck disable=SC2086
cmpmock_start $CMPMOCK_MAC -rsp_cert "$T/new-ec.crt" -rsp_extracerts "$T/inter.crt" ||
  cx_fail "third mock did not start"
mock_conf wrongkey "$CMPMOCK_URL" "$T/new-rsa.key"
sed -i "s|pki.exit.conf = .*|pki.exit.conf = $W/wrongkey-exit.conf|" "$W/send.conf"
if "$PKIE" send --conf "$W/send.conf" --to hq --retries 0 "$W/f.bin" >"$W/wrong.log" 2>&1; then
  cx_fail "certificate for another key accepted"
fi
grep -q "does not match the requested key" "$W/wrong.log" || cx_fail "no key mismatch error: $(cat "$W/wrong.log")"
[ ! -e "$W/wrongkey-private/identity.pem" ] || cx_fail "mismatching identity stored"
echo "ok: a certificate for another key is refused and not stored"
echo "cmpexit e2e mock: all passed"
