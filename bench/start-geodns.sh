#!/usr/bin/env bash
# Start geodns (bench/geodns.yaml: 1 worker, no HTTP here) serving the bench zone
# (zones/geo.example.yaml) on 127.0.0.1:PORT, as the peers' start scripts do.
# Variant "kinds" also serves zones/kinds.example.yaml and, once up, has RTTs measured per
# client network POSTed (HTTP on 127.0.0.1:PORT+50), so `lat` is decided by measured RTTs
# (81.2.69.0/24, compare.sh's ECS: eu 5 ms, na 40 ms -> eu, as the location would say);
# variant "dnssec" serves
# geo.example signed: a copy of the zone file with `dnssec: {keys: keys}` and a CSK
# (ECDSA P-256) made by `geodns dnssec keygen` into the temp dir at every start.
# GEODNS names the command (default: geodns on PATH). Waits up to 60 s for the first answer.
# Usage: GEOIP_DB=/path/GeoLite2-City.mmdb start-geodns.sh PORT [kinds|dnssec] -> prints the PID
source "$(dirname "$0")/peer-lib.sh"
variants kinds dnssec
here=$(cd "$(dirname "$0")" && pwd)
geodns=${GEODNS:-geodns}
mkdir -p "$dir/zones"
http=null
[ "$variant" = kinds ] && http="127.0.0.1:$((port + 50))"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/token"
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
  listen: $http
  token_file: $dir/token
geoip:
  city: $GEOIP_DB
zones_dir: $dir/zones
reload:
  watch: false
log:
  level: warning
CONF
$pin "$geodns" serve --config "$dir/geodns.yaml" >>"$log" 2>&1 &
pid=$(START_TRIES=${START_TRIES:-300} started $!)
if [ "$variant" = kinds ]; then
  # Measured RTTs, per client network (decided by the native engine's split classes).
  rtts='[{"client": "81.2.69.0/24", "pool": "eu", "rtt_ms": 5},
         {"client": "81.2.69.0/24", "pool": "na", "rtt_ms": 40},
         {"client": "81.2.0.0/16", "pool": "as", "rtt_ms": 90},
         {"client": "12.1.0.0/16", "pool": "eu", "rtt_ms": 20},
         {"client": "2001:db8::/32", "pool": "as", "rtt_ms": 30}]'
  curl -sf -o /dev/null -H "Authorization: Bearer $(cat "$dir/token")" \
    -H 'Content-Type: application/json' --data "$rtts" \
    "http://$http/api/v1/rtt/kinds.example" || {
    kill "$pid"
    echo "start-geodns.sh: the measured RTTs were not accepted (log: $log)" >&2
    exit 1
  }
fi
echo "$pid"
