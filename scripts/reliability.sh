#!/usr/bin/env bash
# scripts/reliability.sh: issue 9's reliability campaign at full size
# (NITRO_RELIABILITY_FULL=1), one e2e test per item, with a markdown
# report. `go test ./e2e` (and so CI) runs the same tests at a reduced size.
#
#   (a) TestReliabilityCrashLoop   ≥ 100 SIGKILLs of a replicating node during
#                                  writes (1 KiB–64 MiB) and back-to-back GC
#   (b) TestReliabilityLoad        200 clients × 60 s, mixed ops in one
#                                  container, GC at the shortest grace
#   (c) TestReliabilityDiskFull    a node on a small ext4 it mounts: 507, restart
#                                  on a full disk, recovery
#   (d) TestReliabilityStalledClients       stalled bodies and slowloris: 408, nothing
#                                  committed
#   (e) TestReliabilityPeerAttacks peer replay, tamper, wrong secret, plain HTTP
#                                  to TLS
#
#   scripts/reliability.sh [--bin NITRO_BINARY] [--only REGEXP] [--out DIR]
#
# Needs root (mounts, like CI) and Go (to build nitro unless --bin). Every
# test prints one summary line starting with "RELIABILITY"; the report
# (DIR/reliability-DATE.md, default DIR results/) has those lines, each
# test's result and time, and the load average before and after each test.
# Exits non-zero if any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
only='.'
out=results
while [ $# -gt 0 ]; do
  case "$1" in
  --bin) export NITRO_E2E_BIN=$2; shift 2 ;;
  --only) only=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
  *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
report="$out/reliability-$stamp.md"
{
  echo "# Reliability campaign, full size ($stamp)"
  echo
  echo "revision $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, $(go version | cut -d' ' -f3)"
  echo
  echo "| test | result | seconds | load before | load after |"
  echo "|---|---|---:|---|---|"
} >"$report"
status=0
summaries=()
for t in TestReliabilityCrashLoop TestReliabilityLoad TestReliabilityDiskFull TestReliabilityStalledClients TestReliabilityPeerAttacks; do
  [[ $t =~ $only ]] || continue
  log="$out/reliability-$stamp-$t.log"
  before=$(cut -d' ' -f1-3 /proc/loadavg)
  start=$(date +%s)
  res=PASS
  NITRO_RELIABILITY_FULL=1 go test -count=1 -timeout 3h -run "^$t\$" -v ./e2e >"$log" 2>&1 || { res=FAIL; status=1; }
  secs=$(( $(date +%s) - start ))
  after=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "| $t | $res | $secs | $before | $after |" >>"$report"
  while IFS= read -r line; do summaries+=("$line"); done < <(grep -o 'RELIABILITY .*' "$log" || echo "RELIABILITY $t: no summary line, see $log")
  echo "$t: $res in ${secs}s (log $log)" >&2
done
{
  echo
  echo '```'
  printf '%s\n' "${summaries[@]}"
  echo '```'
} >>"$report"
cat "$report"
exit $status
