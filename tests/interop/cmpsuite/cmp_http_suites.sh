#!/bin/sh
# cmp_http_suites: OpenSSL's own 80-test_cmp_http suites, unchanged, with
# `pkie cmp` in place of `openssl cmp` (run_suite.sh):
#   3.0: the recipe and data of OpenSSL 3.0 (scripts/peers.sh src30), the
#        system `openssl` (3.0) as mock server;
#   3.5: the recipe and data of OpenSSL 3.5 (peers.sh src35), the mock server
#        of OpenSSL 3.5 built by peers.sh openssl35.
# Prints "suite VERSION: N/M cases passed" per suite and the failed cases.
# Fails when a case fails that known_failures.txt does not list (with its
# reason), or when a suite does not run; a listed case that passes is
# reported as XPASS. CMPSUITES="30" or "35" selects one; KEEP=1 keeps the
# work directory.
set -u
src=${PKIE_SRC_DIR:?PKIE_SRC_DIR not set}
pkie=${PKIE_BIN:?PKIE_BIN not set}
here=$src/tests/interop/cmpsuite
work=$(mktemp -d "${TMPDIR:-/tmp}/cmp_http_suites.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
status=0
summary=""
for s in ${CMPSUITES:-30 35}; do
  case $s in
    30)
      tree=$(sh "$src/scripts/peers.sh" src30) || exit 1
      mock=$(command -v openssl) || { echo "no system openssl" >&2; exit 1; }
      ;;
    35)
      tree=$(sh "$src/scripts/peers.sh" src35) || exit 1
      mock=$(sh "$src/scripts/peers.sh" openssl35) || exit 1
      ;;
    *)
      echo "unknown suite $s" >&2
      exit 2
      ;;
  esac
  echo "==== OpenSSL $s suite: $tree, mock server $mock ($("$mock" version))"
  sh "$here/run_suite.sh" "$tree" "$mock" "$pkie" "$work/$s" >"$work/$s.log" 2>&1
  grep -E '^(not ok|ok) ' "$work/$s.log"
  sed -n '/^failed invocations:$/,$p' "$work/$s.log"
  if ! grep -qE '^suite .*cases passed$' "$work/$s.log"; then
    echo "suite $s did not run:" >&2
    tail -20 "$work/$s.log" >&2
    status=1
  fi
  # failed cases: "ASPECT "TITLE" (i/n) expected=..." in the recipe's fail log
  known=$(sed -n "s/^$s|\([^#]*\).*/\1/p" "$here/known_failures.txt" | sed 's/ *$//')
  failed=$(sed -n 's/^Mock \([a-z]*\) "\(.*\)" ([0-9]*\/[0-9]*) expected=.*/Mock \1|\2/p' \
    "$work/$s/results/failed.txt" 2>/dev/null)
  echo "$failed" | while IFS= read -r f; do
    [ -n "$f" ] || continue
    if echo "$known" | grep -qxF "$f"; then
      echo "known failure ($s): $f"
    else
      echo "UNEXPECTED FAILURE ($s): $f"
    fi
  done
  if echo "$failed" | grep -v '^$' | grep -vqxF "$known"; then
    status=1
  fi
  echo "$known" | while IFS= read -r k; do
    [ -n "$k" ] || continue
    echo "$failed" | grep -qxF "$k" || echo "XPASS ($s): $k (remove it from known_failures.txt)"
  done
  line=$(grep -E '^suite .*cases passed$' "$work/$s.log" || echo "suite $s: no result")
  summary="$summary$line
"
done
echo "==== summary"
printf '%s' "$summary"
exit $status
