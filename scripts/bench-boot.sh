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
# the chunks b ends up with against the image's. Then the small-reads
# rows (issue 15: 1,000 sequential small Range reads through Nitro against
# net/http.FileServer over the same bytes, node.BenchmarkSmallReads, side
# by side in one run). Writes results/bench-boot-DATE.md with the tables,
# the commands and the load averages.
#
#   scripts/bench-boot.sh [--out DIR] [--small-reads-only]   (root: qemu, the image cache)
#
# Env: NITRO_BOOT_TIMEOUT (per boot, default 15m), NITRO_IMAGE_CACHE.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
out=results
small_only=0
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out=$2; shift 2 ;;
  --small-reads-only) small_only=1; shift ;;
  -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
  *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
report="$out/bench-boot-$stamp.md"
log="$out/bench-boot-$stamp.log"
# small_reads appends the small-reads table to the report.
small_reads() {
  local scmd=(go test ./node -count=1 -run '^$' -bench '^BenchmarkSmallReads$' -benchtime 3x -timeout 60m)
  local slog="$out/bench-boot-$stamp-smallreads.log" l0 l1
  l0=$(cut -d' ' -f1-3 /proc/loadavg)
  "${scmd[@]}" 2>&1 | tee "$slog" >&2
  l1=$(cut -d' ' -f1-3 /proc/loadavg)
  {
    echo
    echo "Small reads: \`${scmd[*]}\` (2 GiB object, ~107,000 refs; load average before $l0, after $l1)."
    echo
    echo "| 1,000 sequential Range GETs | Nitro | net/http.FileServer | Nitro / file server | load (1 min) |"
    echo "|---|---|---|---|---|"
    awk '/\/ratio/ {
      split($1, n, "/"); w = n[2]
      for (i = 1; i <= NF; i++) { if ($(i+1) == "nitro-ms/1000") nm = $i; if ($(i+1) == "file-ms/1000") fm = $i; if ($(i+1) == "ratio") r = $i; if ($(i+1) == "load1") l = $i }
      printf "| %s | %.0f ms | %.0f ms | %.2f | %s |\n", w, nm, fm, r, l }' "$slog"
  } >>"$report"
}
if [ "$small_only" = 1 ]; then
  echo "# Small reads benchmark, $stamp" >"$report"
  small_reads
  cat "$report"
  exit 0
fi
scripts/vm-images.sh --boot >/dev/null
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
small_reads
cat "$report"
