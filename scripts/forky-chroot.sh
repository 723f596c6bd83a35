#!/usr/bin/env bash
# Build (once, cached) a Debian forky chroot with the newest Glance swift
# store driver: python3-glance-store 5.x (Keystone v3 only, what every
# OpenStack 2025.2+ cloud runs), with forky's python3-swiftclient and
# python3-keystoneauth1. The e2e test TestGlanceStore5 runs its driver
# script (e2e/testdata/glance_store_drive.py) inside it with
# `chroot DIR/root /usr/bin/python3 ...`; the chroot shares the host's
# network namespace, so it reaches Keystone and Nitro on 127.0.0.1.
#
# Usage: scripts/forky-chroot.sh [--out DIR] [--with-glance-api]
#
#   --out DIR          cache dir (default ${NITRO_FORKY_CHROOT:-/var/cache/nitro-forky})
#   --with-glance-api  also install sid's glance-api (~450 MB more); not
#                      used by CI.
#
# Prints the chroot's path (DIR/root) on stdout; logs go to stderr.
# A finished chroot carries DIR/root/.nitro-forky-ok with the package
# list; a rerun with the same list returns at once.
#
# Notes (bookworm host): bookworm's debootstrap has no forky script, the
# sid one works and bookworm's keyring verifies forky. forky's Release file
# on the mirror may carry a Valid-Until in the past relative to this
# machine's clock, hence Acquire::Check-Valid-Until "false" in the chroot.
#
# Env: NITRO_FORKY_CHROOT, NITRO_DEBIAN_MIRROR (default: the Debian mirror
# of this machine's apt sources, else http://deb.debian.org/debian).
set -euo pipefail

log() { printf '[forky-chroot] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

OUT=${NITRO_FORKY_CHROOT:-/var/cache/nitro-forky}
GLANCE_API=0
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=${2:?--out needs an argument}; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --with-glance-api) GLANCE_API=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap/chroot)"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
command -v debootstrap >/dev/null || die "debootstrap is not installed"
[ -f /usr/share/debootstrap/scripts/sid ] || die "no debootstrap script for sid"

PKGS=(python3-glance-store python3-swiftclient python3-keystoneauth1)
[ "$GLANCE_API" = 1 ] && PKGS+=(glance-api)
STAMP="forky ${PKGS[*]}"

# shellcheck source=scripts/lib/debian-mirror.sh
. "$(dirname "$0")/lib/debian-mirror.sh"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$OUT/root
exec 9>"$OUT/.lock"
if ! flock -n 9; then log "waiting for another forky-chroot.sh run on $OUT"; flock 9; fi

if [ -f "$ROOT/.nitro-forky-ok" ] && [ "$(cat "$ROOT/.nitro-forky-ok")" = "$STAMP" ]; then
  echo "$ROOT"
  exit 0
fi

MIRROR=$(pick_mirror)
MIRROR=${MIRROR%/}
TMP=$OUT/root.tmp.$$
MOUNTS=()
cleanup() {
  local i
  for ((i=${#MOUNTS[@]}-1; i>=0; i--)); do
    umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null || true
  done
  if [ -e "$TMP" ] && ! findmnt -rn -o TARGET | grep -qF "$TMP/"; then
    rm -rf --one-file-system "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for stale in "$OUT"/root.tmp.*; do
  [ -e "$stale" ] || continue
  findmnt -rn -o TARGET | grep -F "$stale/" | sort -r | while read -r m; do umount -l "$m" || true; done
  log "removing stale $stale"
  rm -rf --one-file-system "$stale"
done

T0=$SECONDS
if [ -f "$ROOT/.nitro-forky-base" ]; then
  # The base is there (an earlier run with fewer packages): add to it.
  log "reusing the forky base in $ROOT"
  mv "$ROOT" "$TMP"
else
  mkdir -p "$OUT/cache/debootstrap"
  log "debootstrap --variant=minbase forky from $MIRROR (sid script)"
  debootstrap --variant=minbase --cache-dir="$OUT/cache/debootstrap" forky "$TMP" "$MIRROR" \
    /usr/share/debootstrap/scripts/sid >"$OUT/debootstrap.log" 2>&1 \
    || { tail -30 "$OUT/debootstrap.log" >&2; die "debootstrap failed"; }
  touch "$TMP/.nitro-forky-base"
  log "debootstrap done in $((SECONDS - T0))s"
fi

printf 'deb %s forky main\n' "$MIRROR" >"$TMP/etc/apt/sources.list"
# glance-api is in sid only
[ "$GLANCE_API" = 1 ] && printf 'deb %s sid main\n' "$MIRROR" >>"$TMP/etc/apt/sources.list"
printf 'Acquire::Check-Valid-Until "false";\nAcquire::Retries "3";\n' >"$TMP/etc/apt/apt.conf.d/99nitro"
printf '#!/bin/sh\nexit 101\n' >"$TMP/usr/sbin/policy-rc.d"; chmod 755 "$TMP/usr/sbin/policy-rc.d"
cp -L /etc/resolv.conf "$TMP/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$TMP/proc"; MOUNTS+=("$TMP/proc")

env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
     DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true)
t1=$SECONDS
log "chroot apt-get install ${PKGS[*]}"
{
  "${env[@]}" chroot "$TMP" apt-get update &&
  "${env[@]}" chroot "$TMP" apt-get install -y --no-install-recommends "${PKGS[@]}"
} >"$OUT/apt.log" 2>&1 || { tail -30 "$OUT/apt.log" >&2; die "apt-get install in the chroot failed"; }
"${env[@]}" chroot "$TMP" dpkg-query -W "${PKGS[@]}" >&2
log "install done in $((SECONDS - t1))s"

umount "$TMP/proc" || umount -l "$TMP/proc"
MOUNTS=()
"${env[@]}" chroot "$TMP" apt-get clean >/dev/null 2>&1 || true
rm -f "$TMP/usr/sbin/policy-rc.d" "$TMP/etc/resolv.conf"
: >"$TMP/etc/resolv.conf"
mkdir -p "$TMP/tmp" && chmod 1777 "$TMP/tmp"
echo "$STAMP" >"$TMP/.nitro-forky-ok"
[ -e "$ROOT" ] && rm -rf --one-file-system "$ROOT"
mv "$TMP" "$ROOT"
log "forky chroot ready in $ROOT ($((SECONDS - T0))s, $(du -sm "$ROOT" | cut -f1) MB)"
echo "$ROOT"
