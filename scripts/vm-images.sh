#!/usr/bin/env bash
# Build a dataset of real Debian VM disk images (raw + qcow2) for Nitro tests
# and benchmarks, caching everything so reruns take seconds.
#
# Usage: scripts/vm-images.sh [--set small|full] [--boot] [--out DIR]
#
#   --set small  (default) bookworm minbase + a derived variant (less, nano).
#   --set full   small + bookworm nginx/postgresql/redis-server variants and,
#                if the mirror serves it, trixie minbase + nginx.
#   --boot       also build bookworm-boot: minbase + systemd-sysv and
#                linux-image-cloud-amd64, bootable by qemu's direct boot
#                (images/bookworm-boot.{raw,vmlinuz,initrd}; not in manifest.tsv,
#                so the dedup datasets stay as they are). Boot it with
#                -kernel … -initrd … -append 'console=ttyS0 root=/dev/vda1 ro'
#                (a getty on the serial console prints "login:").
#   --out DIR    cache/output dir (default ${NITRO_IMAGE_CACHE:-/var/cache/nitro-images})
#
# Prints the image paths on stdout (one per line); logs go to stderr.
# Writes DIR/manifest.tsv (header line, then: name format path bytes sha256).
#
# Layout of DIR:
#   images/NAME.{raw,qcow2}(+.sha256)  final images (written atomically)
#   trees/NAME/                        root trees the images are made from
#   cache/debootstrap/SUITE/           debootstrap --cache-dir (.debs)
#   cache/apt/SUITE/{archives,lists}/  apt archives/lists for chroot installs
#
# How images are made (no loop/nbd/dm devices needed): variants are derived
# from the base tree (cp -a + chroot apt-get install), then each tree is
# written with `mkfs.ext4 -E offset=1MiB -d TREE` into a sparse file carrying an
# MBR partition table (sfdisk), and converted with `qemu-img convert -O qcow2`.
# All filesystems of one suite share UUID/hash seed/timestamps, like images
# derived from one base disk.
#
# Env: NITRO_IMAGE_CACHE, NITRO_DEBIAN_MIRROR (default: the Debian mirror of
# this machine's apt sources, else http://deb.debian.org/debian),
# NITRO_IMAGE_SIZE_MB (minimum virtual disk size, default 1024).
set -euo pipefail

log() { printf '[vm-images] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SET=small
BOOT=0
OUT=${NITRO_IMAGE_CACHE:-/var/cache/nitro-images}
while [ $# -gt 0 ]; do
  case $1 in
    --set) SET=${2:?--set needs an argument}; shift 2 ;;
    --set=*) SET=${1#*=}; shift ;;
    --boot) BOOT=1; shift ;;
    --out) OUT=${2:?--out needs an argument}; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $1 (usage: $0 [--set small|full] [--out DIR])" ;;
  esac
done
case $SET in small|full) ;; *) die "--set must be small or full" ;; esac
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap/chroot)"
MIN_SIZE_MB=${NITRO_IMAGE_SIZE_MB:-1024}

# ---------------------------------------------------------------- tools
ensure_tools() {
  local missing=0 t
  for t in debootstrap qemu-img sfdisk mkfs.ext4 debugfs e2fsck flock chroot sha256sum; do
    command -v "$t" >/dev/null 2>&1 || { log "missing tool: $t"; missing=1; }
  done
  [ "$missing" = 0 ] && return 0
  log "installing build tools with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update >&2 || true
  apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=600 \
    debootstrap qemu-utils fdisk e2fsprogs util-linux coreutils debian-archive-keyring >&2
}
ensure_tools
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

# ---------------------------------------------------------------- mirror
# shellcheck source=scripts/lib/debian-mirror.sh
. "$(dirname "$0")/lib/debian-mirror.sh"
MIRROR=$(pick_mirror)
MIRROR=${MIRROR%/}

# ---------------------------------------------------------------- set definition
# name|suite|parent|packages   (parent "-" = debootstrap minbase)
IMAGES=(
  "bookworm-minbase|bookworm|-|"
  "bookworm-minbase-extra|bookworm|bookworm-minbase|less nano"
)
if [ "$SET" = full ]; then
  IMAGES+=(
    "bookworm-nginx|bookworm|bookworm-minbase|nginx"
    "bookworm-postgresql|bookworm|bookworm-minbase|postgresql"
    "bookworm-redis|bookworm|bookworm-minbase|redis-server"
    "trixie-minbase|trixie|-|"
    "trixie-nginx|trixie|trixie-minbase|nginx"
  )
fi
OPTIONAL_SUITES=" trixie "   # skipped (with a warning) if the mirror fails us

# ---------------------------------------------------------------- dirs, lock, cleanup
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
IMG_DIR=$OUT/images TREE_DIR=$OUT/trees CACHE_DIR=$OUT/cache
mkdir -p "$IMG_DIR" "$TREE_DIR" "$CACHE_DIR"

exec 9>"$OUT/.lock"
if ! flock -n 9; then log "waiting for another vm-images.sh run on $OUT"; flock 9; fi

MOUNTS=()   # mount points to undo on exit (innermost last)
TMPS=()     # temp files/dirs to remove on exit
cleanup() {
  local i
  for ((i=${#MOUNTS[@]}-1; i>=0; i--)); do
    umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null || true
  done
  for i in "${TMPS[@]}"; do
    [ -e "$i" ] || continue
    # never recurse through something still mounted
    if findmnt -rn -o TARGET | grep -qF "$i/"; then log "not removing $i: still has mounts"; continue; fi
    rm -rf --one-file-system "$i"
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of interrupted runs (we hold the lock, so nobody else is building).
for stale in "$TREE_DIR"/*.tmp.* "$IMG_DIR"/*.tmp.*; do
  [ -e "$stale" ] || continue
  if findmnt -rn -o TARGET | grep -qF "$stale/"; then
    findmnt -rn -o TARGET | grep -F "$stale/" | sort -r | while read -r m; do umount -l "$m" || true; done
  fi
  log "removing stale $stale"
  rm -rf --one-file-system "$stale"
done

# ---------------------------------------------------------------- trees
debootstrap_tree() { # suite dest
  local suite=$1 dest=$2 dcache=$CACHE_DIR/debootstrap/$1
  mkdir -p "$dcache"
  log "debootstrap --variant=minbase $suite from $MIRROR"
  local t0=$SECONDS
  debootstrap --variant=minbase --cache-dir="$dcache" "$suite" "$dest" "$MIRROR" \
    >"$dest.log" 2>&1 || { tail -20 "$dest.log" >&2; return 1; }
  rm -f "$dest.log"
  # image-like touches: hostname, fstab for the single ext4 root partition
  echo "nitro-$suite" >"$dest/etc/hostname"
  rm -f "$dest/etc/resolv.conf"; : >"$dest/etc/resolv.conf"   # not the build host's DNS
  printf 'LABEL=rootfs / ext4 defaults,errors=remount-ro 0 1\n' >"$dest/etc/fstab"
  rm -rf "$dest"/var/cache/apt/archives/*.deb "$dest"/var/lib/apt/lists/*_Packages* 2>/dev/null || true
  log "debootstrap $suite done in $((SECONDS - t0))s"
}

chroot_install() { # suite tree packages...
  local suite=$1 root=$2; shift 2
  local acache=$CACHE_DIR/apt/$suite
  mkdir -p "$acache/archives/partial" "$acache/lists/partial"
  # no daemons, working DNS, /proc for maintainer scripts
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
  local had_resolv=0
  if [ -e "$root/etc/resolv.conf" ] || [ -L "$root/etc/resolv.conf" ]; then
    had_resolv=1; mv "$root/etc/resolv.conf" "$root/etc/resolv.conf.nitro-orig"
  fi
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  mount -t proc proc "$root/proc"; MOUNTS+=("$root/proc")
  mount --bind "$acache/archives" "$root/var/cache/apt/archives"; MOUNTS+=("$root/var/cache/apt/archives")
  mount --bind "$acache/lists" "$root/var/lib/apt/lists"; MOUNTS+=("$root/var/lib/apt/lists")

  local env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
             DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true)
  local aopt=(-o Acquire::Retries=3 -o APT::Keep-Downloaded-Packages=true
              -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  log "chroot apt-get install $* ($suite)"
  local t0=$SECONDS rc=0
  {
    "${env[@]}" chroot "$root" apt-get "${aopt[@]}" update &&
    "${env[@]}" chroot "$root" apt-get "${aopt[@]}" install -y --no-install-recommends "$@"
  } >"$root.apt.log" 2>&1 || rc=$?
  [ "$rc" = 0 ] || tail -30 "$root.apt.log" >&2
  rm -f "$root.apt.log"

  # undo in reverse order, then drop them from MOUNTS
  local m
  for m in "$root/var/lib/apt/lists" "$root/var/cache/apt/archives" "$root/proc"; do
    umount "$m" || umount -l "$m"
  done
  MOUNTS=("${MOUNTS[@]:0:${#MOUNTS[@]}-3}")
  # apt's binary caches belong to the (not kept) package lists
  rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf" "$root"/var/cache/apt/*.bin
  [ "$had_resolv" = 1 ] && mv "$root/etc/resolv.conf.nitro-orig" "$root/etc/resolv.conf"
  [ "$rc" = 0 ] || return "$rc"
  log "install of $* done in $((SECONDS - t0))s"
}

# ensure_tree NAME SUITE PARENT PKGS -> trees/NAME (cached; marker trees/.NAME.ok)
ensure_tree() {
  local name=$1 suite=$2 parent=$3 pkgs=$4 dest=$TREE_DIR/$1 ok=$TREE_DIR/.$1.ok
  [ -f "$ok" ] && [ -d "$dest" ] && return 0
  local tmp=$TREE_DIR/$name.tmp.$$
  TMPS+=("$tmp")
  if [ "$parent" = - ]; then
    debootstrap_tree "$suite" "$tmp"
  else
    log "deriving tree $name from $parent"
    cp -a "$TREE_DIR/$parent" "$tmp"
    # shellcheck disable=SC2086
    chroot_install "$suite" "$tmp" $pkgs
  fi
  rm -f "$ok"
  [ -e "$dest" ] && rm -rf --one-file-system "$dest"
  mv "$tmp" "$dest"
  touch "$ok"
}

# ---------------------------------------------------------------- images
# deterministic per-suite UUID (images of a suite look derived from one disk)
suite_uuid() { local h; h=$(printf 'nitro-%s' "$1" | sha256sum); h=${h:0:32}
  echo "${h:0:8}-${h:8:4}-4${h:13:3}-8${h:17:3}-${h:20:12}"; }

# build_images NAME SUITE -> images/NAME.raw, images/NAME.qcow2 (cached)
build_images() {
  local name=$1 suite=$2 tree=$TREE_DIR/$1
  local raw=$IMG_DIR/$name.raw qcow=$IMG_DIR/$name.qcow2
  if [ ! -f "$raw" ] || [ ! -f "$raw.sha256" ]; then
    local tree_mb size_mb tmp=$IMG_DIR/$name.raw.tmp.$$
    TMPS+=("$tmp")
    tree_mb=$(du -sm --apparent-size -x "$tree" | cut -f1)
    size_mb=$(( (tree_mb * 2 + 511) / 512 * 512 ))
    [ "$size_mb" -ge "$MIN_SIZE_MB" ] || size_mb=$MIN_SIZE_MB
    log "mkfs $name.raw (${size_mb} MiB disk, tree ${tree_mb} MiB)"
    rm -f "$tmp"; truncate -s "${size_mb}M" "$tmp"
    # MBR: one bootable Linux partition from 1 MiB to the end
    printf 'label: dos\nlabel-id: 0x4e495452\nstart=2048, type=83, bootable\n' \
      | sfdisk -q --no-reread --no-tell-kernel "$tmp" >&2
    local uuid; uuid=$(suite_uuid "$suite")
    E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -b 4096 -L rootfs -U "$uuid" \
      -E "offset=1048576,hash_seed=$uuid" -d "$tree" "$tmp" "$(( (size_mb - 1) * 256 ))" >&2
    e2fsck -fn "$tmp?offset=1048576" >/dev/null 2>&1 || {
      e2fsck -fn "$tmp?offset=1048576" >&2 || true; die "e2fsck failed on $name.raw"; }
    sha256sum "$tmp" | cut -d' ' -f1 >"$tmp.sha256"
    rm -f "$qcow" "$qcow.sha256"         # derived from the old raw: rebuild
    mv "$tmp.sha256" "$raw.sha256.new"; mv "$tmp" "$raw"; mv "$raw.sha256.new" "$raw.sha256"
  fi
  if [ ! -f "$qcow" ] || [ ! -f "$qcow.sha256" ]; then
    local tmpq=$IMG_DIR/$name.qcow2.tmp.$$
    TMPS+=("$tmpq")
    log "qemu-img convert $name.qcow2"
    rm -f "$tmpq"
    qemu-img convert -f raw -O qcow2 "$raw" "$tmpq"
    sha256sum "$tmpq" | cut -d' ' -f1 >"$tmpq.sha256"
    mv "$tmpq.sha256" "$qcow.sha256.new"; mv "$tmpq" "$qcow"; mv "$qcow.sha256.new" "$qcow.sha256"
  fi
}

# ---------------------------------------------------------------- main
T0=$SECONDS
log "set=$SET out=$OUT mirror=$MIRROR"
declare -A SUITE_FAILED=()
BUILT=()
for spec in "${IMAGES[@]}"; do
  IFS='|' read -r name suite parent pkgs <<<"$spec"
  if [ -n "${SUITE_FAILED[$suite]:-}" ]; then log "skipping $name ($suite unavailable)"; continue; fi
  if [ ! -f "$IMG_DIR/$name.raw.sha256" ] || [ ! -f "$IMG_DIR/$name.qcow2.sha256" ] \
     || [ ! -f "$IMG_DIR/$name.raw" ] || [ ! -f "$IMG_DIR/$name.qcow2" ]; then
    # own subshell so that set -e and the cleanup trap work inside it and an
    # optional suite's failure can be survived
    set +e
    ( trap cleanup EXIT; trap 'exit 130' INT TERM; set -e; MOUNTS=(); TMPS=()
      ensure_tree "$name" "$suite" "$parent" "$pkgs" )
    rc=$?
    set -e
    if [ "$rc" != 0 ]; then
      [ "$rc" = 130 ] && exit 130
      case $OPTIONAL_SUITES in
        *" $suite "*) log "WARNING: could not build $name; skipping suite $suite"
                      SUITE_FAILED[$suite]=1; continue ;;
        *) die "could not build tree $name" ;;
      esac
    fi
    build_images "$name" "$suite"
  fi
  BUILT+=("$name")
done

manifest_tmp=$OUT/manifest.tsv.tmp.$$
TMPS+=("$manifest_tmp")
printf 'name\tformat\tpath\tbytes\tsha256\n' >"$manifest_tmp"
for name in "${BUILT[@]}"; do
  for fmt in raw qcow2; do
    p=$IMG_DIR/$name.$fmt
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$fmt" "$p" "$(stat -c %s "$p")" "$(cat "$p.sha256")" >>"$manifest_tmp"
    echo "$p"
  done
done
mv "$manifest_tmp" "$OUT/manifest.tsv"

# ---------------------------------------------------------------- bootable image
# bookworm-boot: the cloud kernel (virtio drivers, small) and systemd, for
# qemu's direct boot; the kernel and initrd are copied out of the tree so
# qemu needs no boot loader. A getty on ttyS0 comes from systemd's
# serial-getty generator (console=ttyS0).
if [ "$BOOT" = 1 ]; then
  name=bookworm-boot
  # (rebuilt when the tree predates the ttyS0 login unit)
  if [ ! -f "$IMG_DIR/$name.raw.sha256" ] || [ ! -f "$IMG_DIR/$name.vmlinuz" ] || [ ! -f "$IMG_DIR/$name.initrd" ] \
     || [ ! -f "$TREE_DIR/$name/etc/systemd/system/nitro-serial-login.service" ]; then
    rm -f "$IMG_DIR/$name.raw.sha256"
    ( trap cleanup EXIT; trap 'exit 130' INT TERM; set -e; MOUNTS=(); TMPS=()
      ensure_tree "$name" bookworm bookworm-minbase "systemd-sysv linux-image-cloud-amd64 initramfs-tools" ) \
      || die "could not build tree $name"
    tree=$TREE_DIR/$name
    # root may log in on the serial console without a password (a test image)
    sed -i 's|^root:[^:]*:|root::|' "$tree/etc/shadow"
    # A getty on ttyS0 that does not wait for udev to announce the device:
    # under a loaded TCG, udev's coldplug can take longer than systemd's
    # device timeout, and serial-getty@ttyS0 (BindsTo=dev-ttyS0.device)
    # then never starts. /dev/ttyS0 exists from devtmpfs at boot.
    cat >"$tree/etc/systemd/system/nitro-serial-login.service" <<'UNIT'
[Unit]
Description=Login prompt on ttyS0 (not waiting for udev)
After=systemd-user-sessions.service
[Service]
ExecStart=-/sbin/agetty --keep-baud 115200,57600,38400,9600 ttyS0 vt220
Type=idle
Restart=always
[Install]
WantedBy=multi-user.target
UNIT
    ln -sf /etc/systemd/system/nitro-serial-login.service "$tree/etc/systemd/system/multi-user.target.wants/nitro-serial-login.service"
    ln -sf /dev/null "$tree/etc/systemd/system/serial-getty@ttyS0.service"
    echo "nitro-boot" >"$tree/etc/hostname"
    vmlinuz=$(find "$tree/boot" -maxdepth 1 -name 'vmlinuz-*' | sort | tail -1)
    initrd=$(find "$tree/boot" -maxdepth 1 -name 'initrd.img-*' | sort | tail -1)
    if [ -z "$vmlinuz" ] || [ -z "$initrd" ]; then die "$name: no kernel or initrd in $tree/boot"; fi
    build_images "$name" bookworm
    cp "$vmlinuz" "$IMG_DIR/$name.vmlinuz.tmp.$$" && mv "$IMG_DIR/$name.vmlinuz.tmp.$$" "$IMG_DIR/$name.vmlinuz"
    cp "$initrd" "$IMG_DIR/$name.initrd.tmp.$$" && mv "$IMG_DIR/$name.initrd.tmp.$$" "$IMG_DIR/$name.initrd"
  fi
  for f in raw vmlinuz initrd; do echo "$IMG_DIR/$name.$f"; done
fi
log "done in $((SECONDS - T0))s: ${#BUILT[@]} images x {raw,qcow2}; manifest $OUT/manifest.tsv"
