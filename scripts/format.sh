#!/bin/sh
# scripts/format.sh [--check]: clang-format every C source of the project.
# With --check, change nothing and fail listing the files that need formatting.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^tests/fuzz/corpus/' || true)
[ -n "$files" ] || exit 0
if [ "${1:-}" = "--check" ]; then
  bad=""
  for f in $files; do
    [ -f "$f" ] || continue
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
  done
  if [ -n "$bad" ]; then
    echo "format: not clang-formatted (run 'make format'):$bad" >&2
    exit 1
  fi
  echo "format: ok"
else
  # shellcheck disable=SC2086
  clang-format -i $files
fi
