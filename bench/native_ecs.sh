#!/usr/bin/env bash
# geo + ECS over N distinct /24s on a fresh server (first pass) and again (warm), native
# geodns beside gdnsd: bench/ecsflood (CPU 1) against each server (CPU 0), us_q = server
# CPU µs per answered query (compare.sh's formula), plus how many replies had scope > 0.
#   flock /tmp/geodns-bench.lock bench/native_ecs.sh
# Environment: NETS (1000000), SECS (10), BASE_PORT (53400), GEOIP_DB, FAST_PATH (native).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$here/.." && pwd)
peers=$here # the peers' start scripts and compare.sh are in bench/
base=${BASE_PORT:-53400} nets=${NETS:-1000000} secs=${SECS:-10}
export GEOIP_DB=${GEOIP_DB:-$(python3 -c "from geodns.config import demo_geoip_path; print(demo_geoip_path())")}
make -s -C "$here" ecsflood
work=$(mktemp -d /tmp/geodns-necs.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM
ticks() { local s=0 p; for p in "$@"; do s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $s; }
listeners() { ss -Hlunp "sport = :$1" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u; }
flood() {  # name port pass
  local ps t0 t1 out
  ps=$(listeners "$2")
  for p in $ps; do taskset -a -p -c 0 "$p" >/dev/null; done
  t0=$(ticks $ps)
  out=$(taskset -c 1 "$here/ecsflood" -s 127.0.0.1 -p "$2" -n www.geo.example -t A -N "$nets" -c 200 -l "$secs" 2>&1)
  t1=$(ticks $ps)
  awk -v n="$1" -v pass="$3" -v cpu=$((t1 - t0)) '/Queries per second/{q=$4} /Queries lost/{lo=$3}
    /Queries completed/{c=$3} /ECS in replies/{e=$0; sub(/.*\(/, "", e); sub(/\).*/, "", e)}
    END{printf "%-8s %-6s %8.0f %6s %7.2f  scope>0 %s\n", n, pass, q, lo, c ? cpu*10000/c : 0, e}' <<<"$out"
}
conf=$work/geodns.yaml
cat >"$conf" <<YAML
dns: {listen: ["127.0.0.1:$base"], workers: 1, fast_path: ${FAST_PATH:-native}}
http: {listen: "127.0.0.1:$((base + 100))"}
geoip: {city: "$GEOIP_DB"}
zones_dir: $here/zones
reload: {watch: false}
log: {level: warning}
YAML
(cd "$tree" && exec taskset -c 0 python3 -m geodns serve --config "$conf") >"$work/geodns.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do
  dig +short +time=1 +tries=1 -p "$base" @127.0.0.1 static.geo.example A >/dev/null 2>&1 && break
  sleep 0.1
done
targets=("geodns $base")
if command -v gdnsd >/dev/null; then
  pids+=($(PIN="taskset -c 0" "$peers/start-gdnsd.sh" $((base + 1))))
  targets+=("gdnsd $((base + 1))")
fi
echo "tree=$tree ($(git -C "$tree" rev-parse --short HEAD)) NETS=$nets SECS=$secs"
printf "%-8s %-6s %8s %6s %7s\n" target pass qps lost us_q
for t in "${targets[@]}"; do
  set -- $t
  flood "$1" "$2" first
  flood "$1" "$2" warm
done
