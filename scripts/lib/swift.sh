#!/usr/bin/env bash
# scripts/lib/swift.sh: a throw-away single-node OpenStack Swift (Debian's
# packages) on loopback, for benchmarks and for validating test harnesses
# against the real thing.
#
#   scripts/lib/swift.sh start DIR   start memcached, account, container,
#                                    object and proxy servers with state in
#                                    DIR; prints the proxy URL; returns when
#                                    /auth/v1.0 answers
#   scripts/lib/swift.sh stop DIR    stop them (SIGTERM, then SIGKILL)
#
# Sourcing the file defines swift_start DIR / swift_stop DIR instead; after
# swift_start, SWIFT_URL, SWIFT_PROXY_PID and SWIFT_PORT are set.
#
# Layout (all under DIR): etc/ (configs, rings), srv/d1 (the one device),
# log/*.log, pids, port. Tempauth users (Swift's sample ones): test:tester /
# testing (.admin), test2:tester2 / testing2 (.admin), test:tester3 /
# testing3, admin:admin / admin (.admin .reseller_admin).
# One replica, workers = 0 (one process each, exact PIDs), mount_check off,
# no replicators/updaters/auditors. /etc/swift/swift.conf is read as is
# (Swift always reads it: its hash prefix/suffix place the data).

swift__ports() { # N -> N free loopback TCP ports, one per line
  /usr/bin/python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

swift_start() {
  local dir=$1
  mkdir -p "$dir"/etc "$dir"/srv/d1 "$dir"/log "$dir"/cache
  dir=$(cd "$dir" && pwd)
  local ports
  mapfile -t ports < <(swift__ports 5)
  local proxy=${ports[0]} acct=${ports[1]} cont=${ports[2]} obj=${ports[3]} mc=${ports[4]}
  local s
  for s in account:$acct container:$cont object:$obj; do
    cat >"$dir/etc/${s%%:*}-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${s##*:}
workers = 0
user = root
swift_dir = $dir/etc
devices = $dir/srv
mount_check = false
disable_fallocate = true
recon_cache_path = $dir/cache
log_level = WARNING

[pipeline:main]
pipeline = ${s%%:*}-server

[app:${s%%:*}-server]
use = egg:swift#${s%%:*}
EOF
  done
  cat >"$dir/etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $proxy
workers = 0
user = root
swift_dir = $dir/etc
log_level = WARNING

[pipeline:main]
# Swift's recommended order (etc/proxy-server.conf-sample) with every
# middleware the differential tests compare (issue 11).
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl tempauth staticweb copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
# CORS: Swift's defaults, spelled out (no global allowed origin; the
# container's X-Container-Meta-Access-Control-* decide).
cors_allow_origin =
strict_cors_mode = true
cors_expose_headers =

[filter:tempauth]
use = egg:swift#tempauth
# Swift's sample users: an admin of AUTH_test, an admin of another account
# (AUTH_test2), a non-admin of AUTH_test, and a reseller admin.
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
user_test_tester3 = testing3
user_admin_admin = admin .admin .reseller_admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mc
# Clients that send tens of requests at once (Nitro's swift backend) on two
# loaded cores: Swift's defaults (2 pooled connections, 1 s pool timeout,
# 10 errors in 60 s error-limit memcached for 60 s) turn a scheduling stall
# into a minute of 401s and 503s from tempauth.
memcache_max_connections = 16
pool_timeout = 10
connect_timeout = 2
io_timeout = 10
error_suppression_limit = 1000

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:staticweb]
use = egg:swift#staticweb
[filter:copy]
use = egg:swift#copy
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:account-quotas]
use = egg:swift#account_quotas
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
[filter:symlink]
use = egg:swift#symlink
EOF
  # Rings in one Python process (gotcha 8: swift-ring-builder is slow).
  /usr/bin/python3 - "$dir/etc" "$acct" "$cont" "$obj" <<'EOF' || return 1
import sys
from swift.common.ring import RingBuilder
d = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
    b = RingBuilder(8, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
               "port": int(port), "device": "d1", "weight": 100, "meta": ""})
    b.rebalance()
    b.get_ring().save("%s/%s.ring.gz" % (d, name))
    b.save("%s/%s.builder" % (d, name))
EOF
  : >"$dir/pids"
  local mcuser=(); [ "$(id -u)" = 0 ] && mcuser=(-u root)
  /usr/bin/memcached "${mcuser[@]}" -l 127.0.0.1 -p "$mc" -U 0 -m 64 >"$dir/log/memcached.log" 2>&1 &
  echo $! >>"$dir/pids"
  for s in account container object proxy; do
    "/usr/bin/swift-$s-server" "$dir/etc/$s-server.conf" -v >"$dir/log/$s.log" 2>&1 &
    echo $! >>"$dir/pids"
  done
  SWIFT_PROXY_PID=$!
  SWIFT_PORT=$proxy
  SWIFT_URL=http://127.0.0.1:$proxy
  echo "$proxy" >"$dir/port"
  local i up
  for i in $(seq 1 150); do
    # Up when every server accepts connections (any HTTP answer) and auth works.
    up=1
    for s in $acct $cont $obj; do
      curl -s -o /dev/null "http://127.0.0.1:$s/" 2>/dev/null || up=0
    done
    if [ $up = 1 ] && curl -fsS -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
        "$SWIFT_URL/auth/v1.0" 2>/dev/null; then
      return 0
    fi
    kill -0 "$SWIFT_PROXY_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "swift.sh: Swift did not come up in $dir; logs:" >&2
  tail -n 20 "$dir"/log/*.log >&2
  swift_stop "$dir"
  return 1
}

swift_stop() {
  local dir=$1 p i
  [ -f "$dir/pids" ] || return 0
  local pids
  mapfile -t pids <"$dir/pids"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for i in $(seq 1 50); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -f "$dir/pids"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case "${1:-}" in
  start)
    [ $# = 2 ] || { echo "usage: $0 start DIR" >&2; exit 2; }
    swift_start "$2"
    echo "$SWIFT_URL"
    ;;
  stop)
    [ $# = 2 ] || { echo "usage: $0 stop DIR" >&2; exit 2; }
    swift_stop "$2"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
  esac
fi
