#!/bin/sh
# checkcap.sh ORACLE DIR: check a set of captured CMP messages (made by
# capture.sh: DIR/cases.txt, DIR/<case>.req<N>.der, DIR/<case>.rsp<N>.der,
# DIR/pki/) with the oracle (OpenSSL's own CMP code):
#   - every case has the expected sequence of body types;
#   - every message decodes and re-encodes byte-identically (roundtrip);
#   - every message verifies: mac with the secret pass:test, sig with the
#     trust anchor DIR/pki/root.crt, none must be unprotected.
# Quiet; prints what failed and exits 1, or exits 0.
set -eu
if [ $# -ne 2 ]; then
  echo "usage: checkcap.sh ORACLE DIR" >&2
  exit 2
fi
oracle=$1
dir=$2
[ -f "$dir/cases.txt" ] || { echo "checkcap: no $dir/cases.txt" >&2; exit 1; }

# Expected body types of each case: requests / responses, in order.
expect() {
  case $1 in
  ir_mac | ir_mac_rsa | ir_mac_ed25519 | ir_mac_hmacsha256 | ir_unprot | implicit_denied | \
    certconf_reject | ir_sig | ip_chain) echo "ir certConf / ip pkiconf" ;;
  p10cr_mac | p10cr_sig) echo "p10cr certConf / cp pkiconf" ;;
  poll) echo "ir pollReq pollReq certConf / ip pollRep ip pkiconf" ;;
  implicit_granted | reject | reject_unprot) echo "ir / ip" ;;
  error_send | error_unprot) echo "ir / error" ;;
  genm_*) echo "genm / genp" ;;
  cr_sig | cr_raverified) echo "cr certConf / cp pkiconf" ;;
  kur_sig) echo "kur certConf / kup pkiconf" ;;
  rr_*) echo "rr / rp" ;;
  error_sig) echo "cr / error" ;;
  *) echo "(no expectation for case $1)" ;;
  esac
}

# One oracle call per check and protection (process start-up dominates).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/checkcap.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/all" && : >"$tmp/mac" && : >"$tmp/sig" && : >"$tmp/none"
ncases=0
bad=
while read -r c reqp rspp status; do
  ncases=$((ncases + 1))
  for d in req rsp; do
    case $d in req) prot=$reqp ;; *) prot=$rspp ;; esac
    case $prot in mac | sig | none) ;; *) bad="$bad
$c: unknown protection '$prot'" ; prot=all ;; esac
    n=1
    while [ -f "$dir/$c.$d$n.der" ]; do
      echo "$dir/$c.$d$n.der" >>"$tmp/all"
      [ "$prot" = all ] || echo "$dir/$c.$d$n.der" >>"$tmp/$prot"
      n=$((n + 1))
    done
  done
  case $status in ok | fail) ;; *) bad="$bad
$c: unknown status '$status'" ;; esac
done <"$dir/cases.txt"
nfiles=$(wc -l <"$tmp/all")

# run KIND ARGS...: the oracle over the files listed in $tmp/KIND
run() {
  _kind=$1
  shift
  [ -s "$tmp/$_kind" ] || return 0
  # shellcheck disable=SC2046
  "$oracle" "$@" $(cat "$tmp/$_kind") >"$tmp/$_kind.out" 2>&1 || true
  _n=$(grep -c ': OK ' "$tmp/$_kind.out" || true)
  if [ "$_n" != "$(wc -l <"$tmp/$_kind")" ]; then
    bad="$bad
$(grep -v ': OK ' "$tmp/$_kind.out")"
  fi
}
run all roundtrip
run mac validate --secret pass:test
run sig validate --trusted "$dir/pki/root.crt"
run none validate --secret pass:test --allow-unprotected
if [ -s "$tmp/none.out" ] && grep -v 'UNPROTECTED$' "$tmp/none.out" | grep -q .; then
  bad="$bad
expected unprotected messages: $(grep -v 'UNPROTECTED$' "$tmp/none.out")"
fi

# body sequences, from the roundtrip lines "DIR/<case>.<req|rsp><N>.der: OK <body> ..."
# (in the order of $tmp/all: case by case, requests then responses)
awk '{
  f = $1; sub(/:$/, "", f); sub(/^.*\//, "", f)
  body = ($2 == "OK") ? $3 : "?"
  c = f; sub(/\.(req|rsp)[0-9]+\.der$/, "", c)
  d = (f ~ /\.rsp[0-9]+\.der$/) ? "rsp" : "req"
  if (!(c in seen)) { seen[c] = 1; order[++n] = c }
  if (d == "req") req[c] = req[c] " " body; else rsp[c] = rsp[c] " " body
} END {
  for (i = 1; i <= n; i++) { c = order[i]; print c "|" substr(req[c], 2) " / " substr(rsp[c], 2) }
}' "$tmp/all.out" >"$tmp/bodies"
while IFS='|' read -r c got; do
  want=$(expect "$c")
  [ "$got" = "$want" ] || bad="$bad
$c: bodies '$got', expected '$want'"
done <"$tmp/bodies"
[ "$(wc -l <"$tmp/bodies")" = "$ncases" ] || bad="$bad
$(wc -l <"$tmp/bodies") cases decoded, $ncases listed"

if [ -n "$bad" ]; then
  echo "checkcap: $dir:$bad" >&2
  exit 1
fi
if [ "$ncases" -lt 44 ] || [ "$nfiles" -lt 120 ]; then
  echo "checkcap: $dir: only $ncases cases / $nfiles messages" >&2
  exit 1
fi
exit 0
