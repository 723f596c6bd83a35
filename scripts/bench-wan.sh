#!/usr/bin/env bash
# scripts/bench-wan.sh: Nitro's WAN benchmark (issue #6), a thin wrapper
# around `go run ./bench/wan`. Needs root and iproute2; builds the harness
# once, runs the subcommand (default: verify), and removes leftover
# namespaces of this harness if it is interrupted.
#
#   scripts/bench-wan.sh verify --num-regions 5 --seed 3
#   scripts/bench-wan.sh run --runs 3            # scenarios (a)-(e), 5 strategies,
#                                                # wire compression on and off (~35 min)
#   scripts/bench-wan.sh run --scenarios a --strategies optimal,random --compression on --runs 1
#   scripts/bench-wan.sh run --scenarios a --strategies optimal,random,origin-only,swift,copy-image \
#       --compression on --runs 2            # Nitro against a Swift global cluster
#   scripts/bench-wan.sh run --topology bench/wan/testdata/topology-fog10.csv --num-regions 5 ...
#   scripts/bench-wan.sh cleanup
#
# `run` writes report.md, chart.svg, results.json, command.txt,
# topology.csv and logs/ (each run's reader log, each draw's holder and
# Swift logs) to results/<UTC time>-run (or --out DIR); see
# bench/wan/RESULTS.md for recorded runs. It needs the VM images of
# scripts/vm-images.sh --set full (bookworm-minbase and bookworm-nginx)
# and, for the swift and copy-image baselines, Debian's swift and memcached.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
bin=$(mktemp -d)/bench-wan
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./bench/wan
[ $# -gt 0 ] || set -- verify
trap '$SUDO "$bin" cleanup || true; rm -rf "$(dirname "$bin")"' INT TERM
$SUDO "$bin" "$@"
