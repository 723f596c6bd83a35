#!/usr/bin/env bash
# scripts/test.sh: Nitro's whole test suite, from a fresh Debian machine with
# Go. Installs what the tests need (Debian packages via apt-get when
# missing, Go modules via the module proxy), builds the small VM image set
# (cached), then runs vet and every test. Tests that need root or Debian
# packages fail instead of skipping here (NITRO_REQUIRE_E2E=1).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:/usr/bin:/usr/sbin:/bin:/sbin:$PATH
export NITRO_REQUIRE_E2E=1
export NITRO_IMAGE_CACHE=${NITRO_IMAGE_CACHE:-/var/cache/nitro-images}
export NITRO_FORKY_CHROOT=${NITRO_FORKY_CHROOT:-/var/cache/nitro-forky}
export GOFLAGS=${GOFLAGS:-}
# Traces, logs and screenshots the e2e tests keep (e.g. the status page's
# screenshot in TestStatusPageInChromium/): results/artifacts unless set.
export NITRO_E2E_ARTIFACTS=${NITRO_E2E_ARTIFACTS:-$PWD/results/artifacts}
mkdir -p "$NITRO_E2E_ARTIFACTS"

pkgs=(swift swift-proxy swift-account swift-container swift-object
      python3-swiftclient glance-api python3-glance-store rclone
      python3-openstackclient python3-glanceclient memcached sqlite3 curl
      debootstrap qemu-utils fdisk e2fsprogs iproute2 procps systemd passwd
      debootstrap qemu-utils fdisk e2fsprogs iproute2 procps systemd passwd
      keystone python3-keystoneclient python3-keystonemiddleware uwsgi uwsgi-core
      uwsgi-plugin-python3 shellcheck util-linux chromium
      qemu-system-x86 qemu-block-extra haproxy)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== apt-get install ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq -o DPkg::Lock::Timeout=600
  $SUDO apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

echo "== VM images (cached in $NITRO_IMAGE_CACHE)" >&2
scripts/vm-images.sh --set small --boot --out "$NITRO_IMAGE_CACHE" >/dev/null

echo "== forky chroot with glance_store 5.x (cached in $NITRO_FORKY_CHROOT)" >&2
scripts/forky-chroot.sh --out "$NITRO_FORKY_CHROOT" >/dev/null

echo "== go mod download, vet" >&2
go mod download
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...

echo "== go test" >&2
go test -count=1 -timeout 75m "$@" ./...
