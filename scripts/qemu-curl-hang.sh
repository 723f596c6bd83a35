#!/usr/bin/env bash
# scripts/qemu-curl-hang.sh: qemu's curl block driver hang (issue 15),
# reproduced with qemu-io against any HTTP URL of a disk image that
# answers Range requests: RUNS runs (default 5) of N aio reads (default
# 200) of 4-128 KiB at random offsets, in batches of BATCH (default 16);
# a run that does not finish in 20 s is hung. Each URL is run plainly and
# with scripts/qemu-curl-reap.c preloaded (it makes qemu's own timer fire
# while CURLMSG_DONE messages wait unread, so qemu reads them): hangs that
# vanish under the shim are qemu's unread completions, whatever the server.
#
#   scripts/qemu-curl-hang.sh URL...     (qemu-io: qemu-utils, qemu-block-extra; gcc)
#
# Measured here (Nitro and net/http.FileServer, keep-alive and
# Connection: close): keep-alive 5 of 5 hung on both, 0 of 10 with the
# shim; Connection: close 0 of 10.
set -euo pipefail
cd "$(dirname "$0")"
runs=${RUNS:-5} n=${N:-200} batch=${BATCH:-16}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -shared -fPIC -O2 -o "$tmp/reap.so" qemu-curl-reap.c -ldl
size_of() { curl -sfI "$1" | tr -d '\r' | awk 'tolower($1)=="content-length:"{print $2}'; }
for url in "$@"; do
  size=$(size_of "$url")
  for shim in none reap; do
    hung=0 short=0
    for seed in $(seq 1 "$runs"); do
      python3 - "$seed" "$n" "$batch" "$size" >"$tmp/cmds" <<'PY'
import random, sys
seed, n, batch, size = map(int, sys.argv[1:])
r = random.Random(seed)
for i in range(n):
    sz = r.choice([4096, 4096, 4096, 8192, 16384, 65536, 131072])
    print(f"aio_read {r.randrange(0, size - sz) // 4096 * 4096} {sz}")
    if (i + 1) % batch == 0:
        print("aio_flush")
print("aio_flush")
PY
      pre=""
      [ "$shim" = reap ] && pre="$tmp/reap.so"
      rc=0
      LD_PRELOAD=$pre timeout 20 qemu-io -r --image-opts \
        "driver=raw,file.driver=http,file.readahead=0,file.timeout=60,file.url=${url//,/,,}" \
        <"$tmp/cmds" >"$tmp/out" 2>&1 || rc=$?
      done=$(grep -o 'read [0-9]*/[0-9]* bytes' "$tmp/out" | wc -l)
      if [ "$rc" = 124 ]; then hung=$((hung + 1)); elif [ "$done" != "$n" ]; then short=$((short + 1)); fi
    done
    echo "QEMUCURLHANG url=$url shim=$shim runs=$runs reads=$n batch=$batch hung=$hung failed=$short"
  done
done
