#!/usr/bin/env bash
# Start gdnsd with its geoip plugin (map by continent, ECS on, 1 UDP + 1 TCP thread,
# no health checks: service_types up) on 127.0.0.1:PORT.
# Variant "kinds" also serves kinds.example (bench/zones/kinds.example.yaml) as gdnsd
# can say it: wrr by the weighted plugin (grouped: one pool drawn 3:2:1, all its
# addresses), rotate by metafo over multifo pools [eu, na] (all eu addresses: gdnsd has no
# max_answers), lat by the geoip plugin's city-auto-mode (the pools' coordinates), geo,
# alias (a CNAME to geo), *.wild, the sub referral; sticky weighting it has not.
# Usage: GEOIP_DB=/path/GeoLite2-City.mmdb start-gdnsd.sh PORT [kinds]   -> prints the PID
source "$(dirname "$0")/peer-lib.sh"
variants kinds
mkdir -p "$dir/zones"
dc() { echo "$1 => { addrs_v4 => 192.0.2.$2, addrs_v6 => 2001:db8::$2 }"; }
# kinds.example's pools as a dcmap (eu has four addresses, na two, as and other one).
pools='eu => { e0 => 192.0.2.10, e1 => 192.0.2.11, e2 => 192.0.2.12, e3 => 192.0.2.13 },
    na => { n0 => 192.0.2.20, n1 => 192.0.2.21 }, as => 192.0.2.30'
kinds_plugins=
[ "$variant" != kinds ] || kinds_plugins="
weighted => { service_types => up, wrr => {
  eu => { e0 => [192.0.2.10, 3], e1 => [192.0.2.11, 3], e2 => [192.0.2.12, 3], e3 => [192.0.2.13, 3] }
  na => { n0 => [192.0.2.20, 4], n1 => [192.0.2.21, 4] }
  as => { a0 => [192.0.2.30, 4] }
} }
metafo => { resources => { rotate => { datacenters => [eu, na], service_types => up, dcmap => {
    eu => { e0 => 192.0.2.10, e1 => 192.0.2.11, e2 => 192.0.2.12, e3 => 192.0.2.13 },
    na => { n0 => 192.0.2.20, n1 => 192.0.2.21 }
} } } }"
kinds_maps=
[ "$variant" != kinds ] || kinds_maps="
    kcont => { geoip2_db => $GEOIP_DB, datacenters => [eu, na, as, other],
      map => { default => [other], EU => [eu], NA => [na], AS => [as] } }
    klat => { geoip2_db => $GEOIP_DB, datacenters => [eu, na, as],
      auto_dc_coords => { eu => [50.1, 8.7], na => [38.9, -77.0], as => [35.7, 139.7] } }"
kinds_res=
[ "$variant" != kinds ] || kinds_res="
    kgeo => { map => kcont, service_types => up, dcmap => { $pools, other => 192.0.2.40 } }
    klat => { map => klat, service_types => up, dcmap => { $pools } }"
cat >"$dir/config" <<CONF
options => {
  listen => [ 127.0.0.1:$port ], udp_threads => 1, tcp_threads => 1,
  edns_client_subnet => true, run_dir => $dir/run, state_dir => $dir/state
}
plugins => { geoip => {
  maps => { continents => {
    geoip2_db => $GEOIP_DB, datacenters => [eu, na, as, other],
    map => { default => [other], EU => [eu], NA => [na], AS => [as] }
  } $kinds_maps }
  resources => { www => { map => continents, service_types => up, dcmap => {
    $(dc eu 10), $(dc na 20), $(dc as 30), $(dc other 40)
  } } $kinds_res }
} $kinds_plugins }
CONF
cat >"$dir/zones/geo.example" <<ZONE
$(zone_head)
www    DYNA geoip!www
ZONE
[ "$variant" != kinds ] || cat >"$dir/zones/kinds.example" <<ZONE
$(zone_head)
geo    DYNA geoip!kgeo
wrr    DYNA weighted!wrr
rotate DYNA metafo!rotate
lat    DYNA geoip!klat
alias  CNAME geo
*.wild A   192.0.2.99
sub    NS  ns.sub
ns.sub A   192.0.2.53
ZONE
$pin /usr/sbin/gdnsd -c "$dir" start >"$log" 2>&1 &
started $!
