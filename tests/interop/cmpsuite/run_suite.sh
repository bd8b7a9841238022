#!/bin/sh
# run_suite.sh: OpenSSL's own CMP client suite (test/recipes/80-test_cmp_http.t
# with its data directory, both unchanged) run with `pkie cmp` in place of
# `openssl cmp`, against the suite's own mock server (a real `openssl cmp`).
#
#   run_suite.sh SRCTREE MOCK_OPENSSL PKIE [WORKDIR]
#
# SRCTREE      an OpenSSL source tree (scripts/peers.sh src30|src35)
# MOCK_OPENSSL the `openssl` binary that serves as mock server and runs every
#              subcommand other than the client `cmp`
# PKIE         the pkie binary
#
# The recipe is driven by OpenSSL's own test framework (util/perl/OpenSSL/Test
# of SRCTREE) through a minimal build top: configdata.pm (nothing disabled),
# util/wrap.pl (runs the command as is) and apps/openssl, a wrapper that runs
# `PKIE cmp ARGS` for `openssl cmp ARGS` and MOCK_OPENSSL for the mock server
# (`openssl cmp -config server.cnf`, the recipe's only server invocation) and
# for anything else. The recipe and data are copied into WORKDIR because some
# cases write files into the current directory. Prints the TAP output, then
# "suite: N/M cases passed" and the failed invocations; exits 0 iff all pass.
set -eu
src=${1:?usage: run_suite.sh SRCTREE MOCK_OPENSSL PKIE [WORKDIR]}
mock=${2:?MOCK_OPENSSL missing}
pkie=${3:?PKIE missing}
work=${4:-$(mktemp -d "${TMPDIR:-/tmp}/cmpsuite.XXXXXX")}
recipe=test/recipes/80-test_cmp_http.t
[ -f "$src/$recipe" ] || { echo "run_suite.sh: no $recipe in $src" >&2; exit 2; }
[ -x "$mock" ] || { echo "run_suite.sh: $mock is not executable" >&2; exit 2; }
[ -x "$pkie" ] || { echo "run_suite.sh: $pkie is not executable" >&2; exit 2; }
command -v perl >/dev/null || { echo "run_suite.sh: perl missing" >&2; exit 2; }

rm -rf "$work/src" "$work/bld" "$work/results"
mkdir -p "$work/src/test/recipes" "$work/src/util" "$work/bld/util" "$work/bld/apps" "$work/results"
cp "$src/Configure" "$work/src/"
cp -R "$src/util/perl" "$work/src/util/"
cp "$src/$recipe" "$work/src/test/recipes/"
cp -R "$src/test/recipes/80-test_cmp_http_data" "$work/src/test/recipes/"

cat >"$work/bld/configdata.pm" <<'PM'
package configdata;
our %config = (options => '');
our %disabled = ();
our %target = ();
our %available_protocols = ();
1;
PM
printf '#!/bin/sh\nexec "$@"\n' >"$work/bld/util/wrap.pl"
cat >"$work/bld/apps/openssl" <<SH
#!/bin/sh
if [ "\${1:-}" = cmp ] && ! { [ "\${2:-}" = -config ] && [ "\${3:-}" = server.cnf ]; }; then
  shift
  exec "$pkie" cmp "\$@"
fi
exec "$mock" "\$@"
SH
chmod +x "$work/bld/util/wrap.pl" "$work/bld/apps/openssl"

log=$work/results/tap.txt
faillog=$work/results/failed.txt
rc=0
(cd "$work/results" &&
  env -u OPENSSL_CONF -u EXE_SHELL -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY \
    SRCTOP="$work/src" BLDTOP="$work/bld" BIN_D="$work/bld/apps" RESULT_D="$work/results" \
    HARNESS_FAILLOG="$faillog" PERL5LIB="$work/src/util/perl" HARNESS_ACTIVE=1 \
    perl "$work/src/$recipe") >"$log" 2>&1 || rc=$?
cat "$log"
# The per-case results are the subtests' "ok N - title" / "not ok N - title"
# lines (indented); the top-level lines are the aspects and the server stop.
pass=$(grep -cE '^ +ok [0-9]+ ' "$log" || true)
fail=$(grep -cE '^ +not ok [0-9]+ ' "$log" || true)
echo "suite $(cat "$src/.complete" 2>/dev/null || echo "$src"): $pass/$((pass + fail)) cases passed"
if [ -s "$faillog" ]; then
  echo "failed invocations:"
  cat "$faillog"
fi
[ "$rc" = 0 ] && [ "$fail" = 0 ] && [ "$pass" -gt 0 ]
