#!/usr/bin/env bash
# scripts/dedup-table.sh: measure dedup and compression of the VM image set
# at several chunkings with `nitro dedupstat` and print a markdown table.
#
# Usage: scripts/dedup-table.sh [--manifest FILE] [--format qcow2|raw|all] [--level N]
#
#   --manifest FILE  manifest written by scripts/vm-images.sh
#                    (default ${NITRO_IMAGE_CACHE:-/var/cache/nitro-images}/manifest.tsv;
#                    columns: name format path bytes sha256)
#   --format F       which images to measure (default qcow2, what Glance stores)
#   --level N        zstd level for the "+ zstd" column (default 1)
#
# Every row is one `go run . dedupstat` over all selected images together, so
# chunks shared between images count once. Zero chunks (holes of sparse
# images) are excluded from "non-zero" and from the savings.
set -euo pipefail
cd "$(dirname "$0")/.."

MANIFEST=${NITRO_IMAGE_CACHE:-/var/cache/nitro-images}/manifest.tsv
FORMAT=qcow2
LEVEL=1
while [ $# -gt 0 ]; do
  case $1 in
    --manifest) MANIFEST=${2:?}; shift 2 ;;
    --format) FORMAT=${2:?}; shift 2 ;;
    --level) LEVEL=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -r "$MANIFEST" ] || { echo "no manifest $MANIFEST (run scripts/vm-images.sh)" >&2; exit 1; }

files=()
while IFS=$'\t' read -r name format path bytes sha; do
  [ "$name" = name ] && continue
  if [ "$FORMAT" = all ] || [ "$FORMAT" = "$format" ]; then files+=("$path"); fi
done <"$MANIFEST"
((${#files[@]})) || { echo "no $FORMAT images in $MANIFEST" >&2; exit 1; }

go build -o /dev/null . # fail early, and warm the build cache for go run
echo "Images ($FORMAT, ${#files[@]}): ${files[*]##*/}"
echo
echo "| chunking | total GiB | non-zero GiB | unique GiB | unique + zstd GiB | saved (dedup) | saved (dedup+zstd) | non-zero chunks | mean KiB (non-zero) | stddev KiB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
row() { # label, dedupstat flags...
  local label=$1; shift
  go run . dedupstat --level "$LEVEL" --row "$label" "$@" "${files[@]}"
}
row "CDC avg 16 KiB (4-64 KiB)"     --avg 16384   --min 4096   --max 65536
row "CDC avg 32 KiB (8-128 KiB)"    --avg 32768   --min 8192   --max 131072
row "CDC avg 64 KiB (16-256 KiB)"   --avg 65536   --min 16384  --max 262144
row "CDC avg 256 KiB (64 KiB-1 MiB)" --avg 262144  --min 65536  --max 1048576
row "CDC avg 1 MiB (256 KiB-4 MiB)" --avg 1048576 --min 262144 --max 4194304
row "CDC restic default (512 KiB-8 MiB, avg 1 MiB)" --avg 1048576 --min 524288 --max 8388608
row "fixed 4 KiB"                   --fixed 4096
row "fixed 256 KiB (Nitro paper)"   --fixed 262144
