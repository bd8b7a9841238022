#!/bin/sh
# Independent peers fetched at test time, cached outside the clone.
#
#   scripts/peers.sh src30      print the OpenSSL 3.0 source tree (Debian 12's
#                               openssl source package), fetching it if missing
#   scripts/peers.sh src35      the same for OpenSSL 3.5 (Debian 13's package)
#   scripts/peers.sh openssl35  print the path of an `openssl` 3.5 binary built
#                               no-shared from src35, building it if missing
#
# Nothing of OpenSSL is committed: the sources come from Debian's registry
# through a private apt configuration (deb-src for bookworm and trixie) that
# leaves the system's apt lists alone. The cache is PKIE_PEER_CACHE (default
# /var/cache/pkie-peers); a lock makes concurrent callers wait for one fetch
# or build. Everything is rebuilt only when missing.
set -eu

CACHE=${PKIE_PEER_CACHE:-/var/cache/pkie-peers}
APT="$CACHE/apt"
mkdir -p "$CACHE"

die() {
  echo "peers.sh: $*" >&2
  exit 1
}

apt_opts() {
  echo "-o Dir::Etc::SourceList=$APT/sources.list -o Dir::Etc::SourceParts=/nonexistent \
-o Dir::State::Lists=$APT/lists -o Dir::Cache=$APT/cache -o APT::Get::Only-Source=true"
}

apt_setup() {
  mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
  kr=/usr/share/keyrings/debian-archive-keyring.gpg
  cat >"$APT/sources.list.new" <<EOF
deb-src [signed-by=$kr] http://deb.debian.org/debian bookworm main
deb-src [signed-by=$kr] http://deb.debian.org/debian-security bookworm-security main
deb-src [signed-by=$kr] http://deb.debian.org/debian trixie main
EOF
  mv "$APT/sources.list.new" "$APT/sources.list"
  rm -f "$APT/.updated"
  # shellcheck disable=SC2046
  apt-get $(apt_opts) -q update >&2 || die "apt-get update of the private deb-src list failed"
  # (apt-get update exits 0 when an index could not be fetched: check one came)
  # shellcheck disable=SC2046
  apt-cache $(apt_opts) showsrc openssl >/dev/null 2>&1 ||
    die "apt-get update of the private deb-src list fetched no index (no network?)"
  : >"$APT/.updated"
}

# fetch DIR SERIES: unpack the newest openssl source package of SERIES (3.0,
# 3.5) that the mirror serves into DIR (an index may list a version whose
# files are gone: the next one down is tried)
fetch() {
  dir=$1
  series=$2
  [ -f "$dir/.complete" ] && return 0
  command -v dpkg-source >/dev/null 2>&1 || die "dpkg-source missing (apt-get install dpkg-dev)"
  [ -f "$APT/.updated" ] || apt_setup
  # shellcheck disable=SC2046
  versions=$(apt-cache $(apt_opts) showsrc openssl | awk '/^Version:/ {print $2}' |
    grep "^$series\." | sort -rV | uniq)
  [ -n "$versions" ] || die "no openssl $series source package in the private deb-src list"
  tmp="$dir.tmp.$$"
  for v in $versions; do
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # shellcheck disable=SC2046
    if (cd "$tmp" && apt-get $(apt_opts) -o APT::Sandbox::User=root -q source "openssl=$v" >&2); then
      src=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'openssl-*' | head -n 1)
      if [ -n "$src" ]; then
        rm -rf "$dir"
        mv "$src" "$dir"
        rm -rf "$tmp"
        echo "$v" >"$dir/.complete"
        return 0
      fi
    fi
    echo "peers.sh: openssl=$v not fetched, trying the next version" >&2
  done
  rm -rf "$tmp"
  die "apt-get source failed for every openssl $series version: $versions"
}

build35() {
  out="$CACHE/openssl-3.5"
  [ -x "$out/bin/openssl" ] && return 0
  fetch "$CACHE/src-3.5" 3.5
  b="$CACHE/build-3.5"
  rm -rf "$b"
  cp -a "$CACHE/src-3.5" "$b"
  echo "peers.sh: building OpenSSL 3.5 (no-shared) into $out; this takes several minutes once" >&2
  (cd "$b" && ./Configure no-shared no-tests no-docs --prefix="$out" --openssldir="$out/ssl" >&2 &&
    make -j"$(nproc 2>/dev/null || echo 2)" build_programs >&2) || die "OpenSSL 3.5 build failed (log above)"
  mkdir -p "$out/bin.tmp"
  cp "$b/apps/openssl" "$out/bin.tmp/openssl"
  rm -rf "$out/bin"
  mv "$out/bin.tmp" "$out/bin"
  rm -rf "$b"
}

locked() {
  exec 9>"$CACHE/.lock"
  flock 9
  "$@"
}

case "${1:-}" in
  src30)
    locked fetch "$CACHE/src-3.0" 3.0
    echo "$CACHE/src-3.0"
    ;;
  src35)
    locked fetch "$CACHE/src-3.5" 3.5
    echo "$CACHE/src-3.5"
    ;;
  openssl35)
    locked build35
    echo "$CACHE/openssl-3.5/bin/openssl"
    ;;
  *)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
