#!/bin/sh
# A throwaway PostgreSQL cluster for the tests (Debian's postgresql package):
#   pgcluster.sh start DIR     initdb DIR/data, start it on the Unix socket DIR/sock
#   pgcluster.sh stop DIR      stop it and remove DIR
#   pgcluster.sh pause DIR     stop it, keeping the data (outage tests)
#   pgcluster.sh resume DIR    start it again
#   pgcluster.sh createdb DIR NAME
#   pgcluster.sh conninfo DIR  print the connection string (no database name)
#   pgcluster.sh dump DIR NAME print the rows of database NAME (pg_dump -a)
# initdb and postgres refuse to run as root: as root the cluster runs as the
# unprivileged user PKIE_PG_USER (default nobody) through runuser. Connections
# are local (Unix socket only, no TCP) with trust authentication: test only.
# PKIE_PG_OPTS: more server settings ("-c name=value ...").
# When that user cannot reach DIR (a clone under a directory closed to others,
# or a socket path longer than the 107 bytes a Unix socket name allows), the
# cluster lives in a directory under /tmp and DIR is a link to it.
set -eu
cmd=$1
dir=$2
bin=${PKIE_PG_BIN:-}
if [ -z "$bin" ]; then
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bin=$d; done
fi
[ -n "$bin" ] && [ -x "$bin/initdb" ] || {
  echo "pgcluster: no PostgreSQL server (Debian: apt-get install postgresql)" >&2
  exit 1
}
user=${PKIE_PG_USER:-nobody}
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}
# the cluster's real place (DIR itself, or what DIR links to)
real=$dir
[ -L "$dir" ] && real=$(readlink "$dir")
conninfo="host=$real/sock user=pkie"
pg_start() {
  as_pg "$bin/pg_ctl" -D "$real/data" -l "$real/log" -w -t 60 \
    -o "-k $real/sock -c listen_addresses= -c max_connections=200 -c unix_socket_permissions=0777 -c fsync=on -c synchronous_commit=on ${PKIE_PG_OPTS:-}" \
    start >/dev/null
}
case $cmd in
start)
  if [ -f "$real/data/postmaster.pid" ]; then as_pg "$bin/pg_ctl" -D "$real/data" -m immediate stop >/dev/null 2>&1 || true; fi
  [ "$real" != "$dir" ] && rm -rf "$real"
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  real=$dir
  reach=1
  if [ "$(id -u)" = 0 ] && ! runuser -u "$user" -- test -x "$(dirname "$dir")"; then reach=0; fi
  [ ${#dir} -gt 80 ] && reach=0
  if [ $reach = 0 ]; then
    real=$(mktemp -d /tmp/pkie-pg.XXXXXX)
    ln -s "$real" "$dir"
  fi
  conninfo="host=$real/sock user=pkie"
  mkdir -p "$real/sock"
  [ "$(id -u)" = 0 ] && chown -R "$user" "$real"
  chmod 0755 "$real" "$real/sock"
  as_pg "$bin/initdb" -D "$real/data" -U pkie --auth=trust -E UTF8 --no-sync >"$real/initdb.log" 2>&1 || {
    cat "$real/initdb.log" >&2
    exit 1
  }
  pg_start || { cat "$real/log" >&2; exit 1; }
  echo "$conninfo"
  ;;
stop)
  if [ -f "$real/data/postmaster.pid" ]; then as_pg "$bin/pg_ctl" -D "$real/data" -m fast -w stop >/dev/null; fi
  [ "$real" != "$dir" ] && rm -rf "$real"
  rm -rf "$dir"
  ;;
pause)
  as_pg "$bin/pg_ctl" -D "$real/data" -m fast -w stop >/dev/null
  ;;
resume)
  pg_start
  ;;
createdb)
  "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$conninfo dbname=postgres" -c "CREATE DATABASE \"$3\"" >/dev/null
  ;;
conninfo)
  echo "$conninfo"
  ;;
dump)
  "$bin/pg_dump" -a "$conninfo dbname=$3"
  ;;
*)
  echo "usage: pgcluster.sh start|stop|pause|resume|createdb|conninfo|dump DIR [NAME]" >&2
  exit 2
  ;;
esac
