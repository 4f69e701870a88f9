#!/usr/bin/env bash
# Start gdnsd with its geoip plugin (map by continent, ECS on, 1 UDP + 1 TCP thread,
# no health checks: service_types up) on 127.0.0.1:PORT.
# Usage: GEOIP_DB=/path/GeoLite2-City.mmdb start-gdnsd.sh PORT   -> prints the PID
source "$(dirname "$0")/peer-lib.sh"
mkdir -p "$dir/zones"
dc() { echo "$1 => { addrs_v4 => 192.0.2.$2, addrs_v6 => 2001:db8::$2 }"; }
cat >"$dir/config" <<CONF
options => {
  listen => [ 127.0.0.1:$port ], udp_threads => 1, tcp_threads => 1,
  edns_client_subnet => true, run_dir => $dir/run, state_dir => $dir/state
}
plugins => { geoip => {
  maps => { continents => {
    geoip2_db => $GEOIP_DB, datacenters => [eu, na, as, other],
    map => { default => [other], EU => [eu], NA => [na], AS => [as] }
  } }
  resources => { www => { map => continents, service_types => up, dcmap => {
    $(dc eu 10), $(dc na 20), $(dc as 30), $(dc other 40)
  } } }
} }
CONF
cat >"$dir/zones/geo.example" <<ZONE
\$TTL 300
@      SOA ns1 hostmaster 1 3600 600 604800 60
@      NS  ns1
ns1    A   127.0.0.1
static A   192.0.2.1
www    DYNA geoip!www
ZONE
$pin /usr/sbin/gdnsd -c "$dir" start >"$log" 2>&1 &
started $!
