#!/bin/sh
# Install the Debian packages pkie needs, only those that are missing.
# Idempotent: does nothing (and needs no network) when all are present.
set -eu
PKGS="gcc make cmake pkg-config clang libclang-rt-14-dev llvm clang-format
openssl libssl-dev libmicrohttpd-dev libsqlite3-dev
libcmocka-dev softhsm2 libp11-kit-dev iproute2 util-linux xxd ca-certificates
dpkg-dev debian-archive-keyring curl libpq-dev postgresql valgrind
python3 python3-prometheus-client"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "deps: all present"
  exit 0
fi
echo "deps: installing$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
