# shellcheck shell=sh
# Shared helpers of the PKCS#11 exit tests (sourced after tests/interop/exit/lib.sh).
# A throwaway SoftHSM2 token in $W/tokens (SOFTHSM2_CONF points to $W/softhsm2.conf):
#   label pkie-test, user PIN 1234 (in $W/pin, mode 0600), SO PIN 5678;
#   private keys (label = id text, CKA_ID = hex of the label):
#     srv-ec srv-rsa srv-ed cli-ec cli-rsa   the keys of those test leaves
#     other                                  cli-other's key (matches no srv/cli leaf)
# A PKI base $W/ca.db with the CA certificates only (root, inter): no leaf and
# no private key, so a session can only succeed when the exit signs.
MODULE=${PKIE_SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
if [ ! -f "$MODULE" ] || ! command -v softhsm2-util >/dev/null 2>&1; then
  echo "SoftHSM2 missing ($MODULE, softhsm2-util): scripts/deps.sh installs it"
  exit 1
fi
P11=$EXITS/pkcs11.so
export SOFTHSM2_CONF=$W/softhsm2.conf
mkdir -p "$W/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$W/tokens" >"$SOFTHSM2_CONF"
hsm() { softhsm2-util "$@" >>"$W/softhsm.out" 2>&1 || { cat "$W/softhsm.out"; exit 1; }; }
hsm --init-token --free --label pkie-test --pin 1234 --so-pin 5678
import_key() { # FILE LABEL
  hsm --import "$1" --token pkie-test --label "$2" --id "$(printf %s "$2" | od -An -tx1 | tr -d ' \n')" \
    --pin 1234
}
for k in srv-ec srv-rsa srv-ed cli-ec cli-rsa; do import_key "$P/$k.key" "$k"; done
import_key "$P/cli-other.key" other
echo 1234 >"$W/pin"
chmod 600 "$W/pin"
"$DRV" mkbase --base "$W/ca.db" --password-file "$P/pki.pw" \
  --add "root:root:$P/root.crt" --add "inter:inter:$P/inter.crt" >"$W/mkbase.out" 2>&1 ||
  { cat "$W/mkbase.out"; exit 1; }

# p11conf NAME CONFSTRING: $W/NAME.conf running the pkcs11 exit with CONFSTRING
p11conf() {
  conf "$1" pki.type=exit "pki.exit.libpath=$P11" "pki.exit.conf=$2" "pki.base=$W/ca.db" \
    "pki.password=$P/pki.pw"
}
# p11str KEY CHAIN [more items]: the usual conf string (PIN file, log $W/sign.log)
p11str() {
  k=$1 c=$2
  shift 2
  echo "module=$MODULE token=pkie-test key=$k pin-file=$W/pin chain=$P/$c log=$W/sign.log $*"
}
# count_log PATTERN: lines of $W/sign.log matching PATTERN
count_log() { grep -c -- "$1" "$W/sign.log" 2>/dev/null || true; }
