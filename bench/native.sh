#!/usr/bin/env bash
# The native fast path against the Python one and gdnsd, in one run: this tree serves the
# benchmark zone twice (dns.fast_path: python, then native) beside gdnsd, and
# bench/compare.sh loads them one at a time (server pinned to CPU 0, dnsperf to
# CPU 1): qps, latency, lost and us_q (server CPU µs per answered query).
#   flock /tmp/geodns-bench.lock bench/native.sh
#   MIXES="static nxdomain" RUNS=3 SECS=8 bench/native.sh
# Environment: MIXES, RUNS, SECS (passed to compare.sh), BASE_PORT (53300: python +0,
# native +1, gdnsd +2), GEOIP_DB (default: the maxminddb-geolite2 package's), WORKERS (1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$here/.." && pwd)
peers=$here # the peers' start scripts and compare.sh are in bench/
base=${BASE_PORT:-53300}
export MIXES=${MIXES:-static geo-ecs geo-cookie nxdomain} RUNS=${RUNS:-3} SECS=${SECS:-8}
export GEOIP_DB=${GEOIP_DB:-$(python3 -c "from geodns.config import demo_geoip_path; print(demo_geoip_path())")}
work=$(mktemp -d /tmp/geodns-native.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start() {  # port name fast_path
  local conf=$work/$2.yaml
  cat >"$conf" <<YAML
dns: {listen: ["127.0.0.1:$1"], workers: ${WORKERS:-1}, fast_path: $3}
http: {listen: "127.0.0.1:$(($1 + 100))"}
geoip: {city: "$GEOIP_DB"}
zones_dir: $here/zones
reload: {watch: false}
log: {level: warning}
YAML
  (cd "$tree" && PYTHONPATH="$tree" exec taskset -c 0 python3 -m geodns serve --config "$conf") \
    >"$work/$2.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    dig +short +time=1 +tries=1 -p "$1" @127.0.0.1 static.geo.example A >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "native.sh: $2 did not start; log:" >&2; cat "$work/$2.log" >&2; exit 1
}
start "$base" python python
start $((base + 1)) native native
targets=(python=127.0.0.1:$base native=127.0.0.1:$((base + 1)))
if [ -z "${NO_GDNSD:-}" ] && command -v gdnsd >/dev/null; then
  pids+=($(PIN="taskset -c 0" "$peers/start-gdnsd.sh" $((base + 2))))
  targets+=(gdnsd=127.0.0.1:$((base + 2)))
fi
echo "tree=$tree ($(git -C "$tree" rev-parse --short HEAD)) MIXES='$MIXES' RUNS=$RUNS SECS=$SECS"
"$peers/compare.sh" "${targets[@]}"
