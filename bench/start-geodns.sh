#!/usr/bin/env bash
# Start geodns (bench/geodns.yaml: 1 worker, no HTTP here) serving the bench zone
# (zones/geo.example.yaml) on 127.0.0.1:PORT, as the peers' start scripts do.
# Variant "kinds" also serves zones/kinds.example.yaml; variant "dnssec" serves
# geo.example signed: a copy of the zone file with `dnssec: {keys: keys}` and a CSK
# (ECDSA P-256) made by `geodns dnssec keygen` into the temp dir at every start.
# GEODNS names the command (default: geodns on PATH). Waits up to 60 s for the first answer.
# Usage: GEOIP_DB=/path/GeoLite2-City.mmdb start-geodns.sh PORT [kinds|dnssec] -> prints the PID
source "$(dirname "$0")/peer-lib.sh"
variants kinds dnssec
here=$(cd "$(dirname "$0")" && pwd)
geodns=${GEODNS:-geodns}
mkdir -p "$dir/zones"
cp "$here/zones/geo.example.yaml" "$dir/zones/"
case $variant in
  kinds) cp "$here/zones/kinds.example.yaml" "$dir/zones/" ;;
  dnssec)
    "$geodns" dnssec keygen geo.example. --dir "$dir/keys" >"$log" 2>&1
    printf '\ndnssec: {keys: ../keys}\n' >>"$dir/zones/geo.example.yaml"
    ;;
esac
cat >"$dir/geodns.yaml" <<CONF
dns:
  listen: ["127.0.0.1:$port"]
  workers: 1
http:
  listen: null
geoip:
  city: $GEOIP_DB
zones_dir: $dir/zones
reload:
  watch: false
log:
  level: warning
CONF
$pin "$geodns" serve --config "$dir/geodns.yaml" >>"$log" 2>&1 &
START_TRIES=${START_TRIES:-300} started $!
