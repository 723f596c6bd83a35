#!/usr/bin/env bash
# scripts/bench-memory.sh: peak anonymous memory of one `nitro serve` under
# concurrent uploads and downloads (bench/memload): for each concurrency
# level (default 1, 8, 32, 200), that many concurrent PUTs of distinct
# incompressible objects (default 64 MiB each), then as many concurrent GETs
# of them, sampling /proc/PID/status every 100 ms. Prints a table of peak
# RssAnon (and VmRSS) per level and direction, and the load average.
#
#   scripts/bench-memory.sh [--size MiB] [--conc 1,8,32,200] [--bin NITRO]
#                           [--config EXTRA_YAML] [--keep]
#
#   --bin     a prebuilt nitro binary (default: go build of this tree)
#   --config  YAML lines appended to the node's config (e.g. to set
#             store.memory_budget)
#
# Needs Go and ~size×(sum of levels) MiB of disk (15 GiB at the defaults).
# Everything lives in one temp dir, removed on exit with the node (unless
# --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

size=64 conc=1,8,32,200 bin= extra= keep=0
while [ $# -gt 0 ]; do
  case "$1" in
  --size) size=$2; shift 2 ;;
  --conc) conc=$2; shift 2 ;;
  --bin) bin=$2; shift 2 ;;
  --config) extra=$2; shift 2 ;;
  --keep) keep=1; shift ;;
  -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
  *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d /tmp/nitro-benchmem.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "$keep" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT


if [ -z "$bin" ]; then
  go build -o "$tmp/nitro" .
  bin=$tmp/nitro
fi
go build -o "$tmp/memload" ./bench/memload

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ops=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/nitro.yaml" <<YAML
data_dir: $tmp/data
ops_listen: 127.0.0.1:$ops
swift:
  listen: 127.0.0.1:$port
gc:
  interval: 0s
log:
  level: warn
YAML
if [ -n "$extra" ]; then printf '%s\n' "$extra" >> "$tmp/nitro.yaml"; fi

"$bin" serve --config "$tmp/nitro.yaml" > "$tmp/nitro.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/healthcheck" 2>/dev/null; then break; fi
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/healthcheck"

if [ "$bin" = "$tmp/nitro" ]; then what="this tree ($(git describe --always --dirty 2>/dev/null || echo '?'))"; else what=$bin; fi
echo "nitro: $what, $(nproc) CPUs"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$tmp/memload" -url "http://127.0.0.1:$port" -pid "$pid" -size "$size" -conc "$conc"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if ! kill -0 "$pid" 2>/dev/null; then echo "nitro died; log:" >&2; tail -20 "$tmp/nitro.log" >&2; exit 1; fi
