#!/usr/bin/env bash
# Start PowerDNS Authoritative with its geoip backend (YAML zone, services keyed by
# continent, ECS on, 1 receiver + 1 distributor thread) on 127.0.0.1:PORT.
# Variant "dnssec": the zone signed online (geoip-dnssec-keydir; `pdnsutil secure-zone`
# makes one CSK, ECDSA P-256, in the temp dir at start; NSEC, narrow: white lies).
# Usage: GEOIP_DB=/path/GeoLite2-City.mmdb start-pdns.sh PORT [dnssec]   -> prints the PID
source "$(dirname "$0")/peer-lib.sh"
variants dnssec
rec() { echo "    $1.www.geo.example: [{a: 192.0.2.$2}, {aaaa: '2001:db8::$2'}]"; }
cat >"$dir/geo.yaml" <<YAML
domains:
- domain: geo.example
  ttl: 300
  records:
    geo.example:
      - soa: ns1.geo.example hostmaster.geo.example 1 3600 600 604800 60
      - ns: ns1.geo.example
    ns1.geo.example: [{a: 127.0.0.1}]
    static.geo.example: [{a: 192.0.2.1}]
$(rec eu 10; rec na 20; rec as 30; rec default 40)
  services:
    www.geo.example: ['%cn.www.geo.example', 'default.www.geo.example']
YAML
cat >"$dir/pdns.conf" <<CONF
launch=geoip
geoip-database-files=mmdb:$GEOIP_DB
geoip-zones-file=$dir/geo.yaml
$(pdns_common)
CONF
if [ "$variant" = dnssec ]; then
  mkdir -p "$dir/keys"
  printf 'geoip-dnssec-keydir=%s\ndefault-ksk-algorithm=ecdsa256\ndefault-zsk-algorithm=\n' \
    "$dir/keys" >>"$dir/pdns.conf"
  pdnsutil --config-dir="$dir" secure-zone geo.example >"$log" 2>&1
fi
$pin /usr/sbin/pdns_server --config-dir="$dir" >>"$log" 2>&1 &
started $!
