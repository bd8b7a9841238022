# Sourced by bench/<name>/run.sh (POSIX sh, from the source tree's top):
#   bench_build NAME TARGET...
# configures $b (PKIE_BENCH_BUILD, default build/: the normal RelWithDebInfo
# build) when it has no CMake cache, builds TARGETs into it with the log in
# $b/bench_NAME.build.log, and on failure prints the log and exits 1.
b=${PKIE_BENCH_BUILD:-build}
bench_build() {
  _name=$1
  shift
  if [ ! -f "$b/CMakeCache.txt" ]; then
    cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  if ! cmake --build "$b" -j2 --target "$@" >"$b/bench_$_name.build.log" 2>&1; then
    cat "$b/bench_$_name.build.log" >&2
    echo "bench/$_name: build failed" >&2
    exit 1
  fi
}
