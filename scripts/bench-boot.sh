#!/usr/bin/env bash
# scripts/bench-boot.sh: the lazy boot table (issue 15). Regions a and b on
# loopback, b reaching a through a relay that paces 100 Mbit/s with a
# 40 ms RTT (e2e/lazyboot_test.go wanLink); the bootable Debian 12 image
# (scripts/vm-images.sh --boot) PUT at a; qemu (TCG, http block driver,
# file.readahead=0, -snapshot, direct kernel boot) boots it at b from a
# temp URL, to the login prompt on the serial console, three ways:
#
#   lazy             b lacks the image: each Range read fetches what it covers
#                    (plus readahead for sequential readers)
#   lazy+profile     a boots it first (recording the boot profile, replicated);
#                    b prefetches the profile's chunks when its boot starts
#   full copy first  b downloads the whole image (GET), then boots locally
#
# For each: time to login at b, chunk bytes a→b, bytes through the relay,
# the chunks b ends up with against the image's. Writes results/bench-boot-DATE.md
# with the table, the command and the load average.
#
#   scripts/bench-boot.sh [--out DIR]      (root: qemu, the image cache)
#
# Env: NITRO_BOOT_TIMEOUT (per boot, default 15m), NITRO_IMAGE_CACHE.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
out=results
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out=$2; shift 2 ;;
  -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
  *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
scripts/vm-images.sh --boot >/dev/null
stamp=$(date -u +%Y%m%dT%H%M%SZ)
report="$out/bench-boot-$stamp.md"
log="$out/bench-boot-$stamp.log"
cmd=(go test -count=1 -run '^TestLazyBootBench$' -v -timeout 120m ./e2e/)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
NITRO_BOOT_BENCH=1 "${cmd[@]}" 2>&1 | tee "$log" >&2
load1=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# Lazy boot benchmark, $stamp"
  echo
  echo "Command: \`NITRO_BOOT_BENCH=1 ${cmd[*]}\` (scripts/bench-boot.sh); load average before $load0, after $load1; $(nproc) CPUs."
  echo
  if grep -q BOOTBENCH "$log"; then
    sed -n '/BOOTBENCH/,/^[^ |]/p' "$log" | sed 's/^ *//' | grep -E '^\||BOOTBENCH'
  else  # some scenario failed: the rows that finished
    echo "| boot at b | time to login | chunk bytes a→b | bytes through the WAN relay | chunks at b / at a |"
    echo "|---|---|---|---|---|"
    grep -o 'BOOTROW .*' "$log" | sed 's/^BOOTROW //'
  fi
  echo
  grep -E 'copy [0-9.]+ s \+ boot' "$log" | sed 's/^ */- full copy: /' || true
} >"$report"
cat "$report"
