#!/usr/bin/env bash
# scripts/bench-swift.sh: Nitro against a single-node OpenStack Swift (Debian's
# packages), side by side on loopback: PUT and GET of one 1 GiB object with
# curl, alternating between the two systems, N runs each.
#
#   scripts/bench-swift.sh [--runs N] [--data image|random|FILE] [--keep]
#                          [--only swift|nitro] [--base NITRO_BINARY]
#
#   --data image   (default) the raw bookworm-minbase VM image from
#                  scripts/vm-images.sh (exactly 1 GiB; a real disk image, so
#                  it has zero runs and free space that compress and dedup)
#   --data random  1 GiB from /dev/urandom (incompressible, no duplicates:
#                  Nitro's worst case)
#   --data FILE    FILE, truncated or repeated to 1 GiB
#
#   --size BYTES   object size (default 1 GiB = 1073741824; smaller while
#                  iterating)
#   --profile DIR  write a CPU profile of the first NITRO_PROFILE_SECONDS
#                  (default 5) of each Nitro PUT (pprof on the ops listener)
#                  to DIR/TAG-RUN.pprof; the GET waits for it
#   --base BIN     also run the nitro binary BIN (e.g. built from main before
#                  a change), interleaved with the others, as column "Base"
#
# Each Nitro run starts from an empty data directory (a fresh `nitro serve`),
# so the PUT is a cold upload; a second PUT of the same bytes ("re-PUT",
# everything already stored) is reported separately. Swift overwrites the
# object each run. Reported: median MB/s (10^6 B/s) of PUT and GET per
# system, the ratios Nitro/Swift, and Nitro's peak RSS (VmHWM, max over runs).
# Needs: Debian's swift packages, memcached, curl, Go (to build nitro) or
# NITRO_BIN. Everything lives in one temp dir, removed on exit with every
# process this script started (unless --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:/usr/bin:/usr/sbin:/bin:/sbin:$PATH
. scripts/lib/swift.sh

runs=3 data=image keep=0 only= size=$((1 << 30)) profdir=
base_bin=
while [ $# -gt 0 ]; do
  case "$1" in
  --runs) runs=$2; shift 2 ;;
  --data) data=$2; shift 2 ;;
  --keep) keep=1; shift ;;
  --only) only=$2; shift 2 ;;
  --base) base_bin=$(readlink -f "$2"); shift 2 ;;
  --size) size=$2; shift 2 ;;
  --profile) profdir=$(mkdir -p "$2" && readlink -f "$2"); shift 2 ;;
  -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
  *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d /var/tmp/nitro-bench.XXXXXX)
nitro_pid=
cleanup() {
  [ -n "$nitro_pid" ] && kill "$nitro_pid" 2>/dev/null && wait "$nitro_pid" 2>/dev/null
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
  swift_stop "$tmp/swift" 2>/dev/null || true
  if [ $keep = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

# --- test data -------------------------------------------------------------
obj=$tmp/object.bin
case "$data" in
image)
  cache=${NITRO_IMAGE_CACHE:-/var/cache/nitro-images}
  src=$(awk -F'\t' '$1=="bookworm-minbase" && $2=="raw" {print $3}' "$cache/manifest.tsv" 2>/dev/null || true)
  [ -n "$src" ] && [ -f "$src" ] || { echo "no raw bookworm-minbase image in $cache (run scripts/vm-images.sh --set small)" >&2; exit 1; }
  datadesc="raw VM image bookworm-minbase ($src)"
  ;;
random)
  head -c "$size" /dev/urandom >"$obj"; src=$obj
  datadesc="$size B from /dev/urandom"
  ;;
*)
  [ -f "$data" ] || { echo "no such file $data" >&2; exit 1; }
  src=$data datadesc="$data"
  ;;
esac
if [ "$src" != "$obj" ]; then
  if [ "$(stat -c %s "$src")" = "$size" ]; then
    ln -s "$(readlink -f "$src")" "$obj"
  else
    datadesc="$datadesc, repeated/truncated to $size B"
    while [ "$(stat -c %s "$obj" 2>/dev/null || echo 0)" -lt "$size" ]; do cat "$src" >>"$obj"; done
    truncate -s "$size" "$obj"
  fi
fi
cat "$obj" >/dev/null # page cache: time the servers, not the disk
md5=$(md5sum <"$obj" | cut -d' ' -f1)
log "data: $datadesc, md5 $md5"

# --- helpers -----------------------------------------------------------------
token() { # BASEURL -> "TOKEN STORAGEURL"
  curl -fsS -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' "$1/auth/v1.0" |
    tr -d '\r' | awk 'tolower($1)=="x-auth-token:"{t=$2} tolower($1)=="x-storage-url:"{u=$2} END{print t, u}'
}
# put URL TOKEN -> seconds; fails unless the ETag is the file's MD5
put() {
  local out
  out=$(curl -fsS -o /dev/null -D "$tmp/put.hdr" -w '%{time_total}' -H 'Expect:' \
    -H "X-Auth-Token: $2" -T "$obj" "$1")
  grep -qi "^etag: *\"\?$md5" "$tmp/put.hdr" || { echo "bad ETag from $1:" >&2; cat "$tmp/put.hdr" >&2; return 1; }
  echo "$out"
}
get() { # URL TOKEN -> seconds; checks the size
  local out
  out=$(curl -fsS -o /dev/null -w '%{time_total} %{size_download}' -H "X-Auth-Token: $2" "$1")
  [ "${out#* }" = "$size" ] || { echo "GET $1 returned ${out#* } bytes" >&2; return 1; }
  echo "${out% *}"
}
mbps() { awk -v s="$1" -v n="$size" 'BEGIN{printf "%.1f", n/s/1e6}'; }
median() { sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- Nitro -------------------------------------------------------------------
nitro_bin=${NITRO_BIN:-}
if [ "$only" != swift ] && [ -z "$nitro_bin" ]; then
  log "building nitro"
  go build -o "$tmp/nitro" . && nitro_bin=$tmp/nitro
fi
nitro_hwm=0 nitro_anon=0 sampler_pid=
# VmHWM counts file-backed pages too (Badger mmaps its files, and those
# pages are reclaimable cache), so a sampler also records the peak of
# RssAnon (heap, stacks: what the process really holds) every 100 ms.
sample_rss() { # PID OUTFILE
  local max=0 v
  while v=$(awk '/^RssAnon:/{print $2}' "/proc/$1/status" 2>/dev/null) && [ -n "$v" ]; do
    [ "$v" -gt "$max" ] && max=$v && echo "$max" >"$2.new" && mv "$2.new" "$2"
    sleep 0.1
  done
}
nitro_start() { # fresh data dir each time
  local d=$tmp/nitro.$1
  mkdir -p "$d"
  nitro_port=$(free_port) nitro_ops=$(free_port)
  cat >"$d/nitro.yaml" <<EOF
data_dir: $d/data
ops_listen: 127.0.0.1:$nitro_ops
swift:
  listen: 127.0.0.1:$nitro_port
log:
  level: warn
EOF
  "${run_bin:-$nitro_bin}" serve --config "$d/nitro.yaml" >"$d/nitro.log" 2>&1 &
  nitro_pid=$!
  sample_rss "$nitro_pid" "$d/anon" &
  sampler_pid=$!
  local i
  for i in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$nitro_port/healthcheck" 2>/dev/null && return 0
    kill -0 "$nitro_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "nitro did not start:" >&2; tail -n 30 "$d/nitro.log" >&2; return 1
}
nitro_stop() {
  local hwm
  hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$nitro_pid/status" 2>/dev/null || echo 0)
  [ "${hwm:-0}" -gt "$nitro_hwm" ] && nitro_hwm=$hwm
  kill "$nitro_pid"; wait "$nitro_pid" || { echo "nitro exited with $?" >&2; return 1; }
  wait "$sampler_pid" 2>/dev/null || true
  local anon
  anon=$(cat "$tmp/nitro.$1/anon" 2>/dev/null)
  [ "${anon:-0}" -gt "$nitro_anon" ] && nitro_anon=$anon
  nitro_pid= sampler_pid=
}
nitro_run() { # run number [tag]; appends to $tmp/TAG.{put,get,reput} (TAG: nitro)
  local tag=${2:-nitro}
  nitro_start "$1"
  local tu su url tok
  read -r tok su < <(token "http://127.0.0.1:$nitro_port")
  curl -fsS -o /dev/null -X PUT -H "X-Auth-Token: $tok" "$su/bench"
  url=$su/bench/object
  anon() { local v; v=$(cat "$tmp/nitro.$1/anon" 2>/dev/null); echo $((${v:-0} / 1024)); }
  local a1 a2
  local c0 c1
  c0=$(proc_cpu "$nitro_pid")
  local prof_pid=
  if [ -n "$profdir" ]; then
    curl -fsS -o "$profdir/$tag-$1.pprof" "http://127.0.0.1:$nitro_ops/debug/pprof/profile?seconds=${NITRO_PROFILE_SECONDS:-5}" &
    prof_pid=$!
  fi
  tu=$(put "$url" "$tok"); echo "$tu" >>"$tmp/$tag.put"; a1=$(anon "$1")
  [ -z "$prof_pid" ] || wait "$prof_pid" || log "$tag run $1: no profile"
  c1=$(proc_cpu "$nitro_pid"); echo "$c0 $c1" | awk '{printf "%.2f\n", ($2-$1)}' >>"$tmp/$tag.putcpu"
  tu=$(get "$url" "$tok"); echo "$tu" >>"$tmp/$tag.get"; a2=$(anon "$1")
  tu=$(put "$url" "$tok"); echo "$tu" >>"$tmp/$tag.reput"
  log "$tag run $1: peak RssAnon after PUT $a1 MiB, after GET $a2 MiB, after re-PUT $(anon "$1") MiB"
  local du
  du=$(du -s --block-size=1 "$tmp/nitro.$1/data" | cut -f1)
  log "$tag run $1: PUT $(mbps "$(sed -n "${1}p" "$tmp/$tag.put")") MB/s ($(sed -n "${1}p" "$tmp/$tag.putcpu") CPU-s in nitro), GET $(mbps "$(sed -n "${1}p" "$tmp/$tag.get")") MB/s, re-PUT $(mbps "$tu") MB/s, data dir uses $du B on disk, load $(cut -d' ' -f1 /proc/loadavg)"
  nitro_stop "$1"
  rm -rf "$tmp/nitro.$1"
}

# proc_cpu PID...: CPU seconds (user + system) the processes and their
# live children (Swift's workers) have used so far.
proc_cpu() {
  local all=("$@") p
  for p in "$@"; do mapfile -t -O "${#all[@]}" all < <(ps -o pid= --ppid "$p" | tr -d ' '); done
  for p in "${all[@]}"; do cat "/proc/$p/stat" 2>/dev/null; done |
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); s += $12 + $13 } END { printf "%.2f\n", s / hz }'
}

# --- Swift -------------------------------------------------------------------
swift_url= swift_tok=
if [ "$only" != nitro ]; then
  log "starting Swift"
  swift_start "$tmp/swift" >/dev/null
  read -r swift_tok swift_url < <(token "$SWIFT_URL")
  curl -fsS -o /dev/null -X PUT -H "X-Auth-Token: $swift_tok" "$swift_url/bench" || { tail -n 20 "$tmp"/swift/log/*.log >&2; exit 1; }
fi
swift_run() {
  local url=$swift_url/bench/object tu tg c0 c1 pids
  mapfile -t pids <"$tmp/swift/pids"
  c0=$(proc_cpu "${pids[@]}")
  tu=$(put "$url" "$swift_tok"); echo "$tu" >>"$tmp/swift.put"
  c1=$(proc_cpu "${pids[@]}"); echo "$c0 $c1" | awk '{printf "%.2f\n", ($2-$1)}' >>"$tmp/swift.putcpu"
  tg=$(get "$url" "$swift_tok"); echo "$tg" >>"$tmp/swift.get"
  log "swift run $1: PUT $(mbps "$tu") MB/s ($(tail -n 1 "$tmp/swift.putcpu") CPU-s in Swift's processes), GET $(mbps "$tg") MB/s, load $(cut -d' ' -f1 /proc/loadavg)"
}

for i in $(seq 1 "$runs"); do
  [ "$only" != nitro ] && swift_run "$i"
  [ "$only" != swift ] && nitro_run "$i"
  if [ "$only" != swift ] && [ -n "$base_bin" ]; then run_bin=$base_bin nitro_run "$i" base; fi
done

# --- report ------------------------------------------------------------------
med() { [ -s "$tmp/$1" ] && mbps "$(median <"$tmp/$1")" || echo -; }
sp=$(med swift.put) sg=$(med swift.get) np=$(med nitro.put) ng=$(med nitro.get) nr=$(med nitro.reput)
bp=$(med base.put) bg=$(med base.get) br=$(med base.reput)
cpu() { [ -s "$tmp/$1.putcpu" ] && median <"$tmp/$1.putcpu" || echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="-"||b=="-"||b==0) print "-"; else printf "%.2f", a/b }'; }
echo
echo "data: $datadesc ($size B), $runs runs each, alternating, loopback, curl"
echo "host: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg) (other work on the host skews the numbers)"
if [ -n "$base_bin" ]; then
  echo "Base: $base_bin"
  printf '%-22s %10s %10s %10s %10s %10s\n' "median MB/s" Swift Base Nitro Base/Swift Nitro/Swift
  printf '%-22s %10s %10s %10s %10s %10s\n' "PUT (cold)" "$sp" "$bp" "$np" "$(ratio "$bp" "$sp")" "$(ratio "$np" "$sp")"
  printf '%-22s %10s %10s %10s %10s %10s\n' "PUT CPU-s (median)" "$(cpu swift)" "$(cpu base)" "$(cpu nitro)" "" ""
  printf '%-22s %10s %10s %10s %10s %10s\n' "GET" "$sg" "$bg" "$ng" "$(ratio "$bg" "$sg")" "$(ratio "$ng" "$sg")"
  printf '%-22s %10s %10s %10s %10s %10s\n' "re-PUT same object" "$sp" "$br" "$nr" "$(ratio "$br" "$sp")" "$(ratio "$nr" "$sp")"
else
  printf '%-22s %10s %10s %10s\n' "median MB/s" Swift Nitro Nitro/Swift
  printf '%-22s %10s %10s %10s\n' "PUT (cold)" "$sp" "$np" "$(ratio "$np" "$sp")"
  printf '%-22s %10s %10s %10s\n' "PUT CPU-s (median)" "$(cpu swift)" "$(cpu nitro)" ""
  printf '%-22s %10s %10s %10s\n' "GET" "$sg" "$ng" "$(ratio "$ng" "$sg")"
  printf '%-22s %10s %10s %10s\n' "re-PUT same object" "$sp" "$nr" "$(ratio "$nr" "$sp")"
fi
[ "$only" != swift ] && echo "nitro peak RSS: VmHWM $((nitro_hwm / 1024)) MiB (includes Badger's mmapped file pages), RssAnon peak $((nitro_anon / 1024)) MiB (sampled every 100 ms)"
exit 0
