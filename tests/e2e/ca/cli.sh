#!/bin/sh
# pkie ca command line: --help everywhere, one-line errors with exit status 1,
# passphrase never from the command line, file modes, revoke/list/show/export.
set -u
. "$(dirname "$0")/../../interop/ca/lib.sh"
P=$PKIE_BIN
for sub in "" init client pending revoke list show export serve check; do
  check "pkie ca $sub --help" sh -c "'$P' ca $sub --help | grep -q usage"
done
# one-line error, exit 1
oneline() { # oneline NAME CMD...: exit status 1 and exactly one line on stderr
  name=$1
  shift
  "$@" >/dev/null 2>"$WORK/err"
  st=$?
  if [ $st -eq 1 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ]; then ok "$name"; else
    bad "$name (status $st)"
    cat "$WORK/err"
  fi
}
oneline "unknown subcommand" "$P" ca frobnicate
oneline "unknown option" "$P" ca list --dir "$WORK/ca" --bogus
oneline "missing --dir" "$P" ca list
oneline "not a CA directory" "$P" ca list --dir "$WORK/nothing"
oneline "init without passphrase" env -u PKIE_CA_PASS "$P" ca init --dir "$WORK/x" --subject /CN=x
oneline "passphrase given literally is refused" "$P" ca init --dir "$WORK/x" --subject /CN=x --pass literal
oneline "missing pass file" "$P" ca init --dir "$WORK/x" --subject /CN=x --pass-file "$WORK/none"
oneline "bad key type" "$P" ca init --dir "$WORK/x" --subject /CN=x --key-type dsa:1024
oneline "bad subject" "$P" ca init --dir "$WORK/x" --subject "/NOPE=x"
printf 'from-file\n' >"$WORK/passfile"
check "init with --pass-file, rsa:3072" env -u PKIE_CA_PASS "$P" ca init --dir "$WORK/ca" \
  --subject "/CN=CLI Root" --key-type rsa:3072 --pass-file "$WORK/passfile"
check "dir 0700" sh -c "test \"\$(stat -c %a '$WORK/ca')\" = 700"
check "files 0600" sh -c "for f in '$WORK'/ca/*; do test \"\$(stat -c %a \"\$f\")\" = 600 || exit 1; done"
db_raw "$WORK/ca" >"$WORK/raw" && check "store readable" test -s "$WORK/raw"
check "no clear key in the database" sh -c "! grep -q 'BEGIN PRIVATE KEY' '$WORK/raw'"
oneline "init twice" env PKIE_CA_PASS=from-file "$P" ca init --dir "$WORK/ca" --subject /CN=x
printf 'cli-secret\n' >"$WORK/sec"
oneline "client add with a wrong passphrase" env PKIE_CA_PASS=wrong "$P" ca client add \
  --dir "$WORK/ca" --ref c1 --secret-file "$WORK/sec" --subject-pattern "CN=*"
oneline "client add with a bad pattern" env PKIE_CA_PASS=from-file "$P" ca client add \
  --dir "$WORK/ca" --ref c1 --secret-file "$WORK/sec" --subject-pattern "NOPE=*"
oneline "client add with an unknown profile" env PKIE_CA_PASS=from-file "$P" ca client add \
  --dir "$WORK/ca" --ref c1 --secret-file "$WORK/sec" --subject-pattern "CN=*" --profile gold
check "client add" env PKIE_CA_PASS=from-file "$P" ca client add --dir "$WORK/ca" --ref c1 \
  --secret-file "$WORK/sec" --subject-pattern "CN=*" --approval manual
db_raw "$WORK/ca" >"$WORK/raw"
check "secret not stored in clear" sh -c "test -s '$WORK/raw' && ! grep -q cli-secret '$WORK/raw'"
oneline "client add twice" env PKIE_CA_PASS=from-file "$P" ca client add --dir "$WORK/ca" \
  --ref c1 --secret-file "$WORK/sec" --subject-pattern "CN=*"
check "client list" sh -c "'$P' ca client list --dir '$WORK/ca' | grep -q 'c1 .*manual'"
oneline "pending approve of an unknown id" "$P" ca pending approve 99 --dir "$WORK/ca"
oneline "pending approve of a bad id" "$P" ca pending approve x1 --dir "$WORK/ca"
# the CMP signer is the one certificate present after init
serial=$("$P" ca list --dir "$WORK/ca" | awk 'NR==1 {print $1}')
check "show" sh -c "'$P' ca show --dir '$WORK/ca' --serial $serial | grep -q 'BEGIN CERTIFICATE'"
check "export --serial --der" "$P" ca export --dir "$WORK/ca" --serial "$serial" --der --out "$WORK/s.der"
check "export --chain" sh -c "'$P' ca export --dir '$WORK/ca' --chain | grep -q 'BEGIN CERTIFICATE'"
oneline "revoke with an unknown reason" "$P" ca revoke --dir "$WORK/ca" --serial "$serial" --reason nope
check "revoke" "$P" ca revoke --dir "$WORK/ca" --serial "$serial" --reason keyCompromise
oneline "revoke twice" "$P" ca revoke --dir "$WORK/ca" --serial "$serial" --reason keyCompromise
oneline "revoke of an unknown serial" "$P" ca revoke --dir "$WORK/ca" --serial ABCDEF --reason 1
check "list --revoked" sh -c "'$P' ca list --dir '$WORK/ca' --revoked | grep -q revoked"
check "export --crl lists it" sh -c "PKIE_CA_PASS=from-file '$P' ca export --dir '$WORK/ca' --crl |
  openssl crl -noout -text | grep -q 'Key Compromise'"
oneline "serve without --listen" "$P" ca serve --dir "$WORK/ca"
oneline "serve with half TLS" "$P" ca serve --dir "$WORK/ca" --listen 127.0.0.1:0 --tls-cert x
oneline "serve on a bad address" env PKIE_CA_PASS=from-file "$P" ca serve --dir "$WORK/ca" --listen nowhere
check "check" "$P" ca check --dir "$WORK/ca"
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
