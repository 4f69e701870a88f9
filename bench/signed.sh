#!/usr/bin/env bash
# Signed answers on the native path (issue 24, must-show 4): this tree serves a signed copy
# of the benchmark zone (a CSK made by `geodns dnssec keygen`, algorithm 13) and
# bench/compare.sh loads it with and without the DO bit (server pinned to CPU 0, dnsperf to
# CPU 1). The ratio to read: us_q of geo-ecs-do / geo-ecs (and static-do / static), one run.
#   flock /tmp/geodns-bench.lock bench/signed.sh
#   MIXES="geo-ecs geo-ecs-do" RUNS=3 SECS=8 bench/signed.sh
# Environment: MIXES (static static-do geo-ecs geo-ecs-do), RUNS, SECS (compare.sh),
# PORT (53310), FAST_PATH (native), GEOIP_DB (the maxminddb-geolite2 package's), WORKERS (1),
# PYTHON (python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$here/.." && pwd)
port=${PORT:-53310}
export MIXES=${MIXES:-static static-do geo-ecs geo-ecs-do} RUNS=${RUNS:-3} SECS=${SECS:-8}
python=${PYTHON:-python3} # the interpreter geodns runs with (a venv's: PYTHON=.venv/bin/python)
export GEOIP_DB=${GEOIP_DB:-$(cd "$tree" && "$python" -c "from geodns.config import demo_geoip_path; print(demo_geoip_path())")}
work=$(mktemp -d /tmp/geodns-signed.XXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
mkdir -p "$work/zones" "$work/keys"
sed "s|^ttl: 300$|ttl: 300\ndnssec: {keys: $work/keys}|" "$here/zones/geo.example.yaml" \
  >"$work/zones/geo.example.yaml"
grep -q '^dnssec:' "$work/zones/geo.example.yaml" || { echo "signed.sh: no ttl line" >&2; exit 1; }
(cd "$tree" && PYTHONPATH="$tree" "$python" -m geodns dnssec keygen geo.example. --dir "$work/keys") >/dev/null
cat >"$work/geodns.yaml" <<YAML
dns: {listen: ["127.0.0.1:$port"], workers: ${WORKERS:-1}, fast_path: ${FAST_PATH:-native}}
http: {listen: "127.0.0.1:$((port + 100))"}
geoip: {city: "$GEOIP_DB"}
zones_dir: $work/zones
reload: {watch: false}
log: {level: warning}
YAML
(cd "$tree" && PYTHONPATH="$tree" exec taskset -c 0 "$python" -m geodns serve --config "$work/geodns.yaml") \
  >"$work/geodns.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  dig +time=1 +tries=1 +dnssec -p "$port" @127.0.0.1 static.geo.example A | grep -q RRSIG \
    && break
  sleep 0.1
done
dig +dnssec -p "$port" @127.0.0.1 static.geo.example A | grep -q RRSIG \
  || { echo "signed.sh: geodns did not start signed; log:" >&2; cat "$work/geodns.log" >&2; exit 1; }
before=$(curl -s "http://127.0.0.1:$((port + 100))/metrics" | awk '/^geodns_native_engine_queries_total\{/ && /answered_by="python"/ && /transport="udp"/{print $2}')
echo "tree=$tree ($(git -C "$tree" rev-parse --short HEAD)) MIXES='$MIXES' RUNS=$RUNS SECS=$SECS signed"
"$here/compare.sh" "geodns=127.0.0.1:$port"
after=$(curl -s "http://127.0.0.1:$((port + 100))/metrics" | awk '/^geodns_native_engine_queries_total\{/ && /answered_by="python"/ && /transport="udp"/{print $2}')
echo "UDP queries handed to the handler (geodns_native_engine_queries_total) during the runs: ${before:-?} -> ${after:-?}"
