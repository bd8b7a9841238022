#!/bin/sh
# Run every benchmark in bench/: each bench/<name>/run.sh runs its baseline
# beside ours in the same run and prints the ratio. See bench/README.md.
set -eu
cd "$(dirname "$0")/.."
n=0
for b in bench/*/run.sh; do
  [ -f "$b" ] || continue
  name=$(basename "$(dirname "$b")")
  printf '\n==== bench/%s ====\n' "$name"
  bash "$b"
  n=$((n + 1))
done
printf '\n%d benchmark(s) run\n' "$n"
