#!/usr/bin/env bash
# Start Knot DNS with its geoip module (mode geodb, key continent/code; the zone's own
# www records are the default answer) on 127.0.0.1:PORT, ECS on, 1 UDP + 1 TCP worker.
# Variant "dnssec": the zone signed online by mod-onlinesign after mod-geoip (a CSK,
# ECDSA P-256, made by Knot into its KASP database in the temp dir at start; NSEC white
# lies for names that do not exist).
# Needs Debian's knot-module-geoip.
# Usage: GEOIP_DB=/path/GeoLite2-City.mmdb start-knot.sh PORT [dnssec]   -> prints the PID
source "$(dirname "$0")/peer-lib.sh"
variants dnssec
modules=mod-geoip/continents sign=
if [ "$variant" = dnssec ]; then
  modules="[mod-geoip/continents, mod-onlinesign/p256]"
  sign="
policy:
  - id: p256
    algorithm: ecdsap256sha256
    single-type-signing: on
mod-onlinesign:
  - id: p256
    policy: p256"
fi
rule() { printf '  - geo: "%s"\n    A: 192.0.2.%s\n    AAAA: 2001:db8::%s\n' "$1" "$2" "$2"; }
{ echo "www.geo.example:"; rule EU 10; rule NA 20; rule AS 30; rule "*" 40; } >"$dir/geo.conf"
cat >"$dir/geo.example.zone" <<ZONE
\$ORIGIN geo.example.
$(zone_head)
www    A   192.0.2.40
www    AAAA 2001:db8::40
ZONE
cat >"$dir/knot.conf" <<CONF
server:
  listen: 127.0.0.1@$port
  rundir: $dir
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
  edns-client-subnet: on
log:
  - target: $log
    any: info
database:
  storage: $dir
mod-geoip:
  - id: continents
    config-file: $dir/geo.conf
    ttl: 300
    mode: geodb
    geodb-file: $GEOIP_DB
    geodb-key: continent/code
$sign
zone:
  - domain: geo.example
    file: $dir/geo.example.zone
    journal-content: none
    zonefile-sync: -1
    module: $modules
CONF
$pin /usr/sbin/knotd -c "$dir/knot.conf" >>"$log" 2>&1 &
started $!
