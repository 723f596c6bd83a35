#!/usr/bin/env bash
# scripts/lib/debian-mirror.sh: pick_mirror prints the Debian mirror that
# debootstrap should use: $NITRO_DEBIAN_MIRROR, else the first non-security
# Debian URI of this machine's apt sources (deb822 or one-line), else
# http://deb.debian.org/debian. Sourced by vm-images.sh and forky-chroot.sh.

pick_mirror() {
  if [ -n "${NITRO_DEBIAN_MIRROR:-}" ]; then echo "$NITRO_DEBIAN_MIRROR"; return; fi
  local m=""
  # deb822 sources: first URIs line of a stanza whose Suites are not *-security.
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    m=$(awk 'BEGIN{RS=""; FS="\n"}
      { uri=""; sec=0
        for (i=1;i<=NF;i++) {
          if ($i ~ /^URIs:/) { split($i,a,/[ \t]+/); uri=a[2] }
          if ($i ~ /^Suites:/ && $i ~ /-security/) sec=1 }
        if (uri ~ /debian\/?$/ && !sec) { print uri; exit } }' \
      /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1=="deb" && $3 !~ /-security/ { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { if ($i ~ /debian\/?$/) { print $i; exit } break } }' \
      /etc/apt/sources.list || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}
