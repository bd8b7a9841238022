#!/bin/bash
# e2e: four SSL tasks, each with its exit helper (isolation = process), share
# the exit's directory. The renewal falls due in all of them at once: exactly
# one KUR reaches the CA (one helper renews under the directory's lock), the
# other helpers adopt the certificate it wrote and serve it; a corrupt
# identity.pem written afterwards is not adopted.
. "$(dirname "$0")/lib.sh"
[ "${PKIE_TEST_EXIT_ISOLATION:-process}" = process ] || cx_fail "this test needs isolation = process"
CX_TASKS=4
DUE=45 # seconds from issuance to the renewal (validity: one day)
cx_ca_start
cx_client receiver ca --profile short
cx_client sender
cx_exit_conf receiver ca "renew_before = $((86400 - DUE))s" "retry_min = 1s" "retry_max = 4s" \
  "refresh = 1h"
cx_exit_conf sender
cx_recv_start
# receiver certificates issued by the CA (IR + KURs)
issued() { "$PKIE" ca list --dir "$W/ca" | awk '$4 == "receiver"' | wc -l; }
# helpers that hold the identity: one enrolled, the others loaded its file
helpers() { grep -cE "cmp exit\[[0-9]+\]: (enrolled \(IR, MAC\)|loaded identity.pem)" "$W/recv.log"; }
i=0
until [ "$(helpers)" -ge 4 ]; do
  i=$((i + 1)); [ $i -le 300 ] || cx_fail "only $(helpers) exit helpers hold the identity"
  sleep 0.1
done
[ "$(grep -c "enrolled (IR, MAC)" "$W/recv.log")" = 1 ] || cx_fail "more than one enrollment (IR)"
[ "$(issued)" = 1 ] || cx_fail "the CA issued $(issued) receiver certificates for one enrollment"
s1=$(cx_serial receiver)
cx_send sender "$W/one.bin" || cx_fail "first transfer"
echo "ok: $(helpers) helpers share one enrolled identity ($s1), one IR at the CA"
cx_wait "$W/recv.log" "renewed (KUR)" $((DUE + 60)) "$RECV_PID" || cx_fail "no renewal"
t_kur=$(date +%s)
# the other helpers adopt the renewed certificate (at the lock or at a look at the file)
i=0
until [ "$(grep -c "adopted (written by another process)" "$W/recv.log")" -ge 3 ]; do
  i=$((i + 1)); [ $i -le 600 ] || cx_fail "the other helpers did not adopt the renewed certificate"
  sleep 0.1
done
n_ca=$(issued) n_log=$(grep -c "renewed (KUR)" "$W/recv.log")
[ $(($(date +%s) - t_kur)) -lt $((DUE - 5)) ] || cx_fail "machine too slow: next renewal may be due"
[ "$n_log" = 1 ] || cx_fail "$n_log helpers renewed (KUR) for one due renewal"
[ "$n_ca" = 2 ] || cx_fail "the CA issued $((n_ca - 1)) KUR certificates for one due renewal"
s2=$(cx_serial receiver)
[ "$s1" != "$s2" ] || cx_fail "identity.pem not replaced"
[ "$(grep -c "adopted (written by another process): certificate serial $s2" "$W/recv.log")" -ge 3 ] ||
  cx_fail "the helpers adopted another certificate than $s2"
[ "$(stat -c %a "$W/receiver-private/identity.pem")" = 600 ] || cx_fail "identity not 0600"
echo "ok: one KUR at the CA ($s1 -> $s2), adopted by the other helpers"
for f in two three; do
  cx_send sender "$W/$f.bin" || cx_fail "transfer $f after the renewal"
  cmp -s "$W/$f.bin" "$W/in/$f.bin" || cx_fail "$f.bin differs"
done
# hostile: identity.pem replaced by garbage (another writer gone wrong): the
# helpers that look at it do not adopt it and keep serving the renewed certificate
printf 'not an identity\n' >"$W/bad.pem"
chmod 600 "$W/bad.pem"
mv "$W/bad.pem" "$W/receiver-private/identity.pem"
cx_send sender "$W/four.bin" || cx_fail "transfer with a corrupt identity.pem on disk"
cmp -s "$W/four.bin" "$W/in/four.bin" || cx_fail "four.bin differs"
cx_wait "$W/recv.log" "identity.pem changed on disk but is not adopted (.*no private key" 30 \
  "$RECV_PID" || cx_fail "the corrupt identity.pem was not refused"
[ "$(grep -c "adopted (written by another process)" "$W/recv.log")" = 3 ] ||
  cx_fail "something was adopted after the corrupt identity.pem was written"
echo "ok: a corrupt identity.pem is not adopted, the renewed certificate keeps serving"
echo "cmpexit e2e renew_shared: all passed"
