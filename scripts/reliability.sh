#!/usr/bin/env bash
# reliability.sh: the full-size crash loop of issue 9 (campaign item a):
# e2e.TestReliabilityCrashLoop with NITRO_RELIABILITY_FULL=1 (100 SIGKILLs
# of a replicating `nitro serve` during writes of objects up to 64 MiB and
# back-to-back GC). Prints the test's one-line summary
# ("reliability crash loop: kills=… acknowledged_verified=… lost=…") and
# exits non-zero if the test failed. The full log goes to $LOG
# (default: /tmp/nitro-reliability.log).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
LOG=${LOG:-/tmp/nitro-reliability.log}
status=0
NITRO_RELIABILITY_FULL=1 go test -count=1 -timeout 3h -run '^TestReliabilityCrashLoop$' -v ./e2e >"$LOG" 2>&1 || status=$?
grep -o 'reliability crash loop: .*' "$LOG" || echo "no summary line; see $LOG"
grep -E '^(--- |ok|FAIL)' "$LOG" || true
exit $status
