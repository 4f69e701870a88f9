#!/usr/bin/env bash
# Start PowerDNS Authoritative serving the bench zone from a BIND zone file with LUA
# records (continent() picks www's answer; the geoip backend is launched only to give LUA
# its GeoIP lookups), ECS on, 1 receiver + 1 distributor thread, on 127.0.0.1:PORT.
# Variant "kinds" also serves kinds.example (bench/zones/kinds.example.yaml) in LUA:
# geo by continent(), wrr by pickwrandom and sticky by pickwhashed (one pool drawn 3:2:1,
# all its addresses), rotate by pickrandomsample (2 of eu's 4: failover is not measured,
# no health checks), lat by pickclosest (one address per pool located by the GeoIP DB
# where the pool is: Berlin, Kansas, Tokyo), alias (a CNAME the server follows to geo),
# *.wild, the sub referral. Variant "dnssec": geo.example signed online (bind-dnssec-db,
# `pdnsutil secure-zone`: one CSK, ECDSA P-256, made in the temp dir at start; NSEC).
# LUA_MODE=shared (default) keeps one Lua state per thread; LUA_MODE=yes builds a new
# Lua state for every query (PowerDNS's default, ~25x slower).
# Usage: GEOIP_DB=/path/GeoLite2-City.mmdb start-pdns-lua.sh PORT [kinds|dnssec] -> prints the PID
source "$(dirname "$0")/peer-lib.sh"
variants kinds dnssec
pick() { echo "\"continent('EU') and '${1}10' or continent('NA') and '${1}20' or continent('AS') and '${1}30' or '${1}40'\""; }
cat >"$dir/geo.example.zone" <<ZONE
\$ORIGIN geo.example.
$(zone_head)
www    LUA A    $(pick 192.0.2.)
www    LUA AAAA $(pick 2001:db8::)
ZONE
echo "zone \"geo.example\" { type master; file \"$dir/geo.example.zone\"; };" >"$dir/named.conf"
if [ "$variant" = kinds ]; then
  # P: the pools by a key address (the one pickw* choose among): key -> all addresses.
  P="local P={['192.0.2.10']={'192.0.2.10','192.0.2.11','192.0.2.12','192.0.2.13'},['192.0.2.20']={'192.0.2.20','192.0.2.21'},['192.0.2.30']={'192.0.2.30'}}"
  W="{{3,'192.0.2.10'},{2,'192.0.2.20'},{1,'192.0.2.30'}}"
  cat >"$dir/kinds.example.zone" <<ZONE
\$ORIGIN kinds.example.
$(zone_head)
geo    LUA A ";$P if continent('EU') then return P['192.0.2.10'] elseif continent('NA') then return P['192.0.2.20'] elseif continent('AS') then return P['192.0.2.30'] end return '192.0.2.40'"
wrr    LUA A ";$P return P[pickwrandom($W)]"
sticky LUA A ";$P return P[pickwhashed($W)]"
rotate LUA A "pickrandomsample(2, {'192.0.2.10','192.0.2.11','192.0.2.12','192.0.2.13'})"
lat    LUA A ";$P local L={['85.214.0.1']='192.0.2.10',['8.8.8.8']='192.0.2.20',['1.0.16.1']='192.0.2.30'} return P[L[pickclosest({'85.214.0.1','8.8.8.8','1.0.16.1'})]]"
alias  CNAME geo
*.wild A   192.0.2.99
sub    NS  ns.sub
ns.sub A   192.0.2.53
ZONE
  echo "zone \"kinds.example\" { type master; file \"$dir/kinds.example.zone\"; };" >>"$dir/named.conf"
fi
echo "domains: []" >"$dir/empty.yaml"
cat >"$dir/pdns.conf" <<CONF
launch=bind,geoip
bind-config=$dir/named.conf
geoip-database-files=mmdb:$GEOIP_DB
geoip-zones-file=$dir/empty.yaml
enable-lua-records=${LUA_MODE:-shared}
$(pdns_common)
CONF
if [ "$variant" = dnssec ]; then
  printf 'bind-dnssec-db=%s\ndefault-ksk-algorithm=ecdsa256\ndefault-zsk-algorithm=\n' \
    "$dir/dnssec.db" >>"$dir/pdns.conf"
  { pdnsutil --config-dir="$dir" create-bind-db "$dir/dnssec.db" &&
    pdnsutil --config-dir="$dir" secure-zone geo.example; } >"$log" 2>&1
fi
$pin /usr/sbin/pdns_server --config-dir="$dir" >>"$log" 2>&1 &
started $!
