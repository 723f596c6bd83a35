#!/usr/bin/env bash
# scripts/reliability.sh: the full-size reliability campaign of one node
# (e2e TestReliabilityLoad with NITRO_RELIABILITY_FULL=1): 200 concurrent
# Swift clients for 60 s, mixed PUT/GET/HEAD/list/DELETE in one container,
# GC every 3 s at the shortest grace. Prints the test's summary line
#
#   RELIABILITY clients=200 duration=1m0s requests=… errors=0 lost=0 …
#     p99_PUT_ms=… p99_GET_ms=… … peak_rss_anon_mib=…
#
# and the load average, and exits non-zero if the campaign failed.
#
#   scripts/reliability.sh [--bin NITRO_BINARY]
#
# Needs Go (to build nitro, unless --bin).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
while [ $# -gt 0 ]; do
  case "$1" in
  --bin) export NITRO_E2E_BIN=$2; shift 2 ;;
  -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
NITRO_RELIABILITY_FULL=1 go test -count=1 -v -timeout 15m -run '^TestReliabilityLoad$' ./e2e/ || status=$?
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
