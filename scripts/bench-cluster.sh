#!/usr/bin/env bash
# scripts/bench-cluster.sh: Nitro on the region's object cluster
# (store.backend: swift) against the same Swift used directly, side by side
# on loopback (issue 12, must-have 6): PUT and GET of a VM image with curl,
# through a `nitro serve` whose chunks live in that Swift, and straight into
# Swift; then the bytes the cluster stores for a second image that shares
# most of the first.
#
#   scripts/bench-cluster.sh [--runs N] [--data image|qcow2|random|FILE]
#                            [--containers N] [--keep]
#
#   --data image   (default) the raw bookworm-minbase VM image (1 GiB) from
#                  scripts/vm-images.sh; the second image is
#                  bookworm-minbase-extra.raw
#   --data qcow2   the qcow2 forms of the same two images (130 MiB each)
#   --data random  1 GiB from /dev/urandom (Nitro's worst case; the second
#                  image is the first with its middle 64 MiB replaced)
#   --data FILE    FILE (second image: FILE with its middle 64 MiB replaced)
#
# Each Nitro run uses a fresh data dir and a fresh container prefix, so its
# PUT is a cold upload into an empty cluster; the re-PUT of the same bytes
# (chunks already in the cluster and in the node's index) is reported
# separately. Swift overwrites one object each run. Reported: median MB/s
# (10^6 B/s) per system and the ratios Nitro/Swift, with the load average;
# then bytes used in the cluster (the sum of X-Container-Bytes-Used over
# Nitro's containers: this Swift runs no container-updater, so the
# account's X-Account-Bytes-Used lags) after image 1 and after image 2.
# Needs: Debian's swift packages, memcached, curl, Go or NITRO_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:/usr/bin:/usr/sbin:/bin:/sbin:$PATH
. scripts/lib/swift.sh

runs=3 data=image keep=0 containers=16
while [ $# -gt 0 ]; do
  case "$1" in
  --runs) runs=$2; shift 2 ;;
  --data) data=$2; shift 2 ;;
  --containers) containers=$2; shift 2 ;;
  --keep) keep=1; shift ;;
  -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
  *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d /var/tmp/nitro-bench-cluster.XXXXXX)
nitro_pid=
cleanup() {
  [ -n "$nitro_pid" ] && kill "$nitro_pid" 2>/dev/null && wait "$nitro_pid" 2>/dev/null
  swift_stop "$tmp/swift" 2>/dev/null || true
  if [ $keep = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "bench: $*" >&2; }

# --- data ----------------------------------------------------------------------
cache=${NITRO_IMAGE_CACHE:-/var/cache/nitro-images}
image() { awk -F'\t' -v n="$1" -v f="$2" '$1==n && $2==f {print $3}' "$cache/manifest.tsv" 2>/dev/null || true; }
variant() { # SRC DST: SRC with its middle 64 MiB replaced by random bytes
  local n; n=$(stat -c %s "$1")
  cp "$1" "$2"
  head -c $((64 << 20)) /dev/urandom | dd of="$2" bs=1M seek=$((n / 2 / 1048576)) conv=notrunc status=none
}
case "$data" in
image|qcow2)
  fmt=raw; [ "$data" = qcow2 ] && fmt=qcow2
  obj=$(image bookworm-minbase $fmt) obj2=$(image bookworm-minbase-extra $fmt)
  [ -f "$obj" ] && [ -f "$obj2" ] || { echo "no bookworm-minbase(-extra).$fmt in $cache (run scripts/vm-images.sh --set small)" >&2; exit 1; }
  datadesc="$fmt VM image bookworm-minbase, then bookworm-minbase-extra"
  ;;
random)
  obj=$tmp/random.bin obj2=$tmp/random2.bin
  head -c $((1 << 30)) /dev/urandom >"$obj"; variant "$obj" "$obj2"
  datadesc="1 GiB from /dev/urandom, then the same with its middle 64 MiB replaced"
  ;;
*)
  [ -f "$data" ] || { echo "no such file $data" >&2; exit 1; }
  obj=$data obj2=$tmp/variant.bin; variant "$obj" "$obj2"
  datadesc="$data, then the same with its middle 64 MiB replaced"
  ;;
esac
size=$(stat -c %s "$obj") size2=$(stat -c %s "$obj2")
cat "$obj" "$obj2" >/dev/null # page cache: time the servers, not the disk
md5=$(md5sum <"$obj" | cut -d' ' -f1)
log "data: $datadesc ($size and $size2 bytes)"

# --- helpers -------------------------------------------------------------------
token() { # BASEURL -> "TOKEN STORAGEURL"
  curl -fsS -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' "$1/auth/v1.0" |
    tr -d '\r' | awk 'tolower($1)=="x-auth-token:"{t=$2} tolower($1)=="x-storage-url:"{u=$2} END{print t, u}'
}
put() { # URL TOKEN FILE -> seconds; fails unless the ETag is the file's MD5
  local out sum
  sum=$( [ "$3" = "$obj" ] && echo "$md5" || md5sum <"$3" | cut -d' ' -f1)
  out=$(curl -fsS -o /dev/null -D "$tmp/put.hdr" -w '%{time_total}' -H 'Expect:' -H "X-Auth-Token: $2" -T "$3" "$1")
  grep -qi "^etag: *\"\?$sum" "$tmp/put.hdr" || { echo "bad ETag from $1:" >&2; cat "$tmp/put.hdr" >&2; return 1; }
  echo "$out"
}
get() { # URL TOKEN -> seconds; checks the MD5 of what arrives
  local t0 t1 sum
  t0=$(date +%s.%N)
  sum=$(curl -fsS -H "X-Auth-Token: $2" "$1" | md5sum | cut -d' ' -f1)
  t1=$(date +%s.%N)
  [ "$sum" = "$md5" ] || { echo "GET $1: md5 $sum, want $md5" >&2; return 1; }
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", b-a}'
}
mbps() { awk -v s="$1" -v n="$size" 'BEGIN{printf "%.1f", n/s/1e6}'; }
median() { sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
load() { cut -d' ' -f1 /proc/loadavg; }
# cluster_bytes PREFIX: sum of X-Container-Bytes-Used of the containers
# named PREFIX-* in Swift's account, and their object count.
cluster_bytes() {
  local c b o tb=0 to=0
  for c in $(curl -fsS -H "X-Auth-Token: $swift_tok" "$swift_url?prefix=$1-"); do
    read -r b o < <(curl -fsS -I -H "X-Auth-Token: $swift_tok" "$swift_url/$c" | tr -d '\r' |
      awk 'tolower($1)=="x-container-bytes-used:"{b=$2} tolower($1)=="x-container-object-count:"{o=$2} END{print b+0, o+0}')
    tb=$((tb + b)) to=$((to + o))
  done
  echo "$tb $to"
}

# --- Swift -----------------------------------------------------------------------
log "starting Swift"
swift_start "$tmp/swift" >/dev/null
read -r swift_tok swift_url < <(token "$SWIFT_URL")
curl -fsS -o /dev/null -X PUT -H "X-Auth-Token: $swift_tok" "$swift_url/plain"

# --- Nitro on that Swift ------------------------------------------------------------
nitro_bin=${NITRO_BIN:-}
if [ -z "$nitro_bin" ]; then log "building nitro"; go build -o "$tmp/nitro" . && nitro_bin=$tmp/nitro; fi
nitro_start() { # RUN PREFIX: a fresh data dir on containers PREFIX-*
  local d=$tmp/nitro.$1
  mkdir -p "$d"
  nitro_port=$(free_port)
  cat >"$d/nitro.yaml" <<EOF
data_dir: $d/data
swift:
  listen: 127.0.0.1:$nitro_port
log:
  level: warn
store:
  backend: swift
  swift:
    auth_url: $SWIFT_URL/auth/v1.0
    user: test:tester
    key: testing
    container_prefix: $2
    containers: $containers
EOF
  "$nitro_bin" serve --config "$d/nitro.yaml" >"$d/nitro.log" 2>&1 &
  nitro_pid=$!
  local i
  for i in $(seq 1 200); do
    curl -fsS -o /dev/null "http://127.0.0.1:$nitro_port/healthcheck" 2>/dev/null && return 0
    kill -0 "$nitro_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "nitro did not start:" >&2; tail -n 30 "$d/nitro.log" >&2; return 1
}
nitro_stop() { kill "$nitro_pid"; wait "$nitro_pid" || { echo "nitro exited with $?" >&2; return 1; }; nitro_pid=; }

swift_run() {
  local url=$swift_url/plain/object tu tg
  tu=$(put "$url" "$swift_tok" "$obj"); echo "$tu" >>"$tmp/swift.put"
  tg=$(get "$url" "$swift_tok"); echo "$tg" >>"$tmp/swift.get"
  log "swift run $1: PUT $(mbps "$tu") MB/s, GET $(mbps "$tg") MB/s, load $(load)"
}
nitro_run() {
  local prefix=run$1 tok su url tu tg tr
  nitro_start "$1" "$prefix"
  read -r tok su < <(token "http://127.0.0.1:$nitro_port")
  curl -fsS -o /dev/null -X PUT -H "X-Auth-Token: $tok" "$su/bench"
  url=$su/bench/object
  tu=$(put "$url" "$tok" "$obj"); echo "$tu" >>"$tmp/nitro.put"
  tg=$(get "$url" "$tok"); echo "$tg" >>"$tmp/nitro.get"
  tr=$(put "$url" "$tok" "$obj"); echo "$tr" >>"$tmp/nitro.reput"
  local b1 o1 b2 o2
  read -r b1 o1 < <(cluster_bytes "$prefix")
  put "$su/bench/object2" "$tok" "$obj2" >/dev/null
  read -r b2 o2 < <(cluster_bytes "$prefix")
  echo "$b1 $o1 $b2 $o2" >>"$tmp/nitro.bytes"
  log "nitro run $1: PUT $(mbps "$tu") MB/s, GET $(mbps "$tg") MB/s, re-PUT $(mbps "$tr") MB/s; cluster: image 1 $b1 B in $o1 objects, image 2 added $((b2 - b1)) B in $((o2 - o1)) objects; load $(load)"
  nitro_stop
  rm -rf "$tmp/nitro.$1"
}

for i in $(seq 1 "$runs"); do
  swift_run "$i"
  nitro_run "$i"
done

# --- report --------------------------------------------------------------------------
med() { mbps "$(median <"$tmp/$1")"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b==0) print "-"; else printf "%.2f", a/b }'; }
sp=$(med swift.put) sg=$(med swift.get) np=$(med nitro.put) ng=$(med nitro.get) nr=$(med nitro.reput)
read -r b1 o1 b2 o2 < <(tail -n 1 "$tmp/nitro.bytes")
echo
echo "data: $datadesc; image 1 $size B, image 2 $size2 B; $runs runs each, alternating, loopback, curl"
echo "Swift: Debian's $(dpkg-query -W -f '${Version}' swift 2>/dev/null || echo '?'), one node, workers = 0 (scripts/lib/swift.sh); Nitro: store.backend swift on that Swift, containers $containers"
echo "host: $(nproc) cores; load average at the end: $(cut -d" " -f1-3 /proc/loadavg)"
printf '%-28s %10s %10s %12s\n' "median MB/s" Swift Nitro Nitro/Swift
printf '%-28s %10s %10s %12s\n' "PUT image 1 (cold)" "$sp" "$np" "$(ratio "$np" "$sp")"
printf '%-28s %10s %10s %12s\n' "GET image 1" "$sg" "$ng" "$(ratio "$ng" "$sg")"
printf '%-28s %10s %10s %12s\n' "re-PUT image 1" "$sp" "$nr" "$(ratio "$nr" "$sp")"
echo "bytes in the cluster (last run): image 1: $b1 B in $o1 objects ($(ratio "$b1" "$size") of its size); image 2 added $((b2 - b1)) B in $((o2 - o1)) objects ($(ratio $((b2 - b1)) "$size2") of its size; plain Swift would add $size2 B)"
