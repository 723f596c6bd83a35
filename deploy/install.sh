#!/bin/sh
# deploy/install.sh: install a Nitro node on Debian (12 or later) with
# systemd, from a checkout with a built binary:
#
#   go build -o nitro . && sudo deploy/install.sh ./nitro
#
# It creates the system user and group nitro, installs the binary as
# /usr/local/bin/nitro, the example configuration as /etc/nitro/nitro.yaml
# (mode 0640, group nitro; an existing one is kept), the unit as
# /etc/systemd/system/nitro.service and README.md as
# /usr/share/doc/nitro/README.md, and enables the unit. It does not start
# the node: edit the configuration first (swift.listen, the Glance key),
# then `systemctl start nitro`. Running it again upgrades the binary and
# the unit.
#
# ROOT=DIR installs into DIR instead of / (a scratch root, an image being
# built): the user is added to DIR/etc/passwd with `useradd --prefix`, the
# unit enabled with `systemctl --root`. The tests run it that way.
set -eu
bin=${1:?usage: install.sh PATH-OF-THE-NITRO-BINARY}
ROOT=${ROOT:-/}
ROOT=${ROOT%/}
src=$(cd "$(dirname "$0")" && pwd)

# 1. The user and its group, first: the configuration is installed with
#    that group.
if ! grep -q '^nitro:' "$ROOT/etc/passwd"; then
  prefix=
  [ -z "$ROOT" ] || prefix="--prefix $ROOT"
  # shellcheck disable=SC2086 # $prefix is two words or none
  useradd $prefix --system --user-group --home-dir /var/lib/nitro \
    --no-create-home --shell /usr/sbin/nologin --comment "Nitro image store" nitro
fi
# The group's number, from ROOT's own group file (install -g would look
# the name up in the running system's).
gid=$(awk -F: '$1 == "nitro" { print $3 }' "$ROOT/etc/group")
[ -n "$gid" ] || { echo "install.sh: no group nitro in $ROOT/etc/group" >&2; exit 1; }

# 2. The binary, the configuration, the unit, the documentation.
install -D -m 0755 "$bin" "$ROOT/usr/local/bin/nitro"
install -d -m 0755 "$ROOT/etc/nitro"
if [ ! -e "$ROOT/etc/nitro/nitro.yaml" ]; then
  install -m 0640 -o 0 -g "$gid" "$src/nitro.yaml" "$ROOT/etc/nitro/nitro.yaml"
fi
install -D -m 0644 "$src/nitro.service" "$ROOT/etc/systemd/system/nitro.service"
if [ -e "$src/../README.md" ]; then
  install -D -m 0644 "$src/../README.md" "$ROOT/usr/share/doc/nitro/README.md"
fi

# 3. Enable the unit (systemd creates /var/lib/nitro, StateDirectory=).
if [ -z "$ROOT" ]; then
  systemctl daemon-reload
  systemctl enable nitro.service
else
  systemctl --root="$ROOT" enable nitro.service
fi

cat <<MSG
Nitro installed. Next:
  1. edit /etc/nitro/nitro.yaml: swift.listen, the glance user's key
  2. systemctl start nitro
  3. curl http://127.0.0.1:8081/healthz    (the ops listener, ops_listen)
     systemctl status nitro; journalctl -u nitro
  4. after editing accounts or log.level: systemctl reload nitro
MSG
