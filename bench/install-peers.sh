#!/usr/bin/env bash
# Install what bench/run.sh compares geodns with, from Debian's packages: PowerDNS (geoip
# and bind backends), gdnsd, Knot with its geoip module, dnsperf, dig/kdig, mmdblookup.
# A policy-rc.d keeps the packages from starting their services while apt runs; any left
# running on a systemd machine are stopped and disabled, so nothing holds port 53.
# Needs root; `make bench` runs it when a peer is missing.
set -euo pipefail
pkgs=(dnsperf bind9-dnsutils knot-dnsutils mmdb-bin pdns-server pdns-backend-bind
  pdns-backend-geoip gdnsd knot knot-module-geoip gcc make util-linux iproute2)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || { echo "install-peers.sh: all installed"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "install-peers.sh: run as root to install: ${missing[*]}" >&2; exit 1; }
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
if [ -d /run/systemd/system ]; then
  for svc in pdns gdnsd knot; do systemctl disable --now "$svc" >/dev/null 2>&1 || true; done
fi
if ss -Hlnup 'sport = :53' | grep -qE 'pdns|gdnsd|knotd'; then
  echo "install-peers.sh: a peer still listens on port 53:" >&2
  ss -Hlnup 'sport = :53' >&2
  exit 1
fi
echo "install-peers.sh: installed ${missing[*]}"
