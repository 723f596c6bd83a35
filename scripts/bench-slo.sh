#!/usr/bin/env bash
# scripts/bench-slo.sh: GET of a 1 GiB static large object made of
# 100 MiB segments against GET of the plain 1 GiB object (same bytes),
# through a real node over loopback (node's BenchmarkSLOGet), with the load
# average before and after. Target: slo/plain >= 0.95.
#
#   scripts/bench-slo.sh [COUNT]   COUNT ops (each GETs both; default 5)
#
# NITRO_SLO_BENCH_BYTES / NITRO_SLO_BENCH_SEGMENT change the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -count=1 -run - -bench '^BenchmarkSLOGet$' -benchtime "${count}x" -timeout 60m ./node/ 2>&1 |
  grep -Ev '^\s*\{"level' | grep -E 'Benchmark|slo_bench|^ok|FAIL'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
