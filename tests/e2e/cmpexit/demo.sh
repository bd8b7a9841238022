#!/bin/bash
# e2e: the demo scenario (scripts/demo.sh) passes: CA, two monitors with the
# CMP exit, IR, transfer, KUR, rr, refusal with alert 44; every process stopped.
set -eu
out=$(mktemp /tmp/pkie-cmpexit-demo.XXXXXX)
trap 'rm -f "$out"' EXIT
rc=0
DEMO_NO_BUILD=1 DEMO_PORT_CA=19180 DEMO_PORT=19543 sh "$PKIE_SRC_DIR/scripts/demo.sh" >"$out" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$out"; echo "FAIL: demo exit status $rc" >&2; exit 1; }
cat "$out"
grep -q "6 steps, 0 failed" "$out" || { echo "FAIL: not 6 steps without failure" >&2; exit 1; }
for s in 1 2 3 4 5 6; do
  grep -q "^$s .* ok$" "$out" || { echo "FAIL: step $s not ok" >&2; exit 1; }
done
# nothing left running
if pgrep -f "127.0.0.1:19180" >/dev/null || pgrep -f "pkie-demo.*recv.conf" >/dev/null; then
  echo "FAIL: demo left processes running" >&2
  exit 1
fi
echo "cmpexit e2e demo: passed"
