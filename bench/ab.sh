#!/usr/bin/env bash
# Two geodns source trees side by side in one run (before/after a change), with gdnsd as the
# reference: each serves the benchmark zone on its own loopback port, then
# bench/compare.sh loads them one at a time (server pinned to CPU 0, dnsperf to
# CPU 1) and prints qps, latency, lost and us_q (server CPU µs per answered query).
#   bench/ab.sh /path/to/old-tree /path/to/new-tree
#   MIXES="static geo-ecs geo-cookie nxdomain" RUNS=3 SECS=8 bench/ab.sh OLD NEW
# Environment: MIXES, RUNS, SECS (passed to compare.sh), BASE_PORT (53200: old +0, new +1,
# gdnsd +2), GEOIP_DB (default: the maxminddb-geolite2 package's), NO_GDNSD=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peers=$here # the peers' start scripts and compare.sh are in bench/
old=$(cd "$1" && pwd) new=$(cd "$2" && pwd)
base=${BASE_PORT:-53200}
export MIXES=${MIXES:-static geo-ecs geo-cookie nxdomain} RUNS=${RUNS:-3} SECS=${SECS:-8}
export GEOIP_DB=${GEOIP_DB:-$(python3 -c "from geodns.config import demo_geoip_path; print(demo_geoip_path())")}
work=$(mktemp -d /tmp/geodns-ab.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start() {  # tree port name
  local conf=$work/$3.yaml
  cat >"$conf" <<YAML
dns: {listen: ["127.0.0.1:$2"], workers: 1}
http: {listen: "127.0.0.1:$(($2 + 100))"}
geoip: {city: "$GEOIP_DB"}
zones_dir: $here/zones
reload: {watch: false}
log: {level: warning}
YAML
  (cd "$1" && PYTHONPATH="$1" exec taskset -c 0 python3 -m geodns serve --config "$conf") \
    >"$work/$3.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    dig +short +time=1 +tries=1 -p "$2" @127.0.0.1 static.geo.example A >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "ab.sh: $3 did not start; log:" >&2; cat "$work/$3.log" >&2; exit 1
}
start "$old" "$base" before
start "$new" $((base + 1)) after
targets=(before=127.0.0.1:$base after=127.0.0.1:$((base + 1)))
if [ -z "${NO_GDNSD:-}" ] && command -v gdnsd >/dev/null; then
  pids+=($(PIN="taskset -c 0" "$peers/start-gdnsd.sh" $((base + 2))))
  targets+=(gdnsd=127.0.0.1:$((base + 2)))
fi
echo "before=$old ($(git -C "$old" rev-parse --short HEAD)) after=$new ($(git -C "$new" rev-parse --short HEAD))"
echo "MIXES='$MIXES' RUNS=$RUNS SECS=$SECS"
"$peers/compare.sh" "${targets[@]}"
