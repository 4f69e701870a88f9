#!/usr/bin/env bash
# The query log's cost on the native path: this tree serves the benchmark zone three times
# (log.queries off; log.queries on, lines to a file; log.dnstap to fstrm_capture) and a
# compare.sh loads them one at a time (server pinned to CPU 0, dnsperf to CPU 1): qps,
# latency, lost, us_q (server CPU µs per answered query, the writer thread included). Then
# each logging server's count: log lines (or dnstap AUTH_RESPONSE frames) against its
# geodns_queries_total, and geodns_query_log_dropped_total.
#   flock /tmp/geodns-bench.lock env COMPARE=.../compare.sh bench/querylog.sh
# Environment: COMPARE (a compare.sh: default bench/compare.sh), MIXES (static geo-ecs),
# RUNS (3), SECS (8), BASE_PORT (53400: off +0, on +1, dnstap +2), GEOIP_DB.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$here/.." && pwd)
COMPARE=${COMPARE:-$here/compare.sh}
[ -x "$COMPARE" ] || { echo "querylog.sh: no $COMPARE (set COMPARE)" >&2; exit 2; }
base=${BASE_PORT:-53400}
py=${PYTHON:-$tree/.venv/bin/python}
export MIXES=${MIXES:-static geo-ecs} RUNS=${RUNS:-3} SECS=${SECS:-8}
export GEOIP_DB=${GEOIP_DB:-$($py -c "from geodns.config import demo_geoip_path; print(demo_geoip_path())")}
work=$(mktemp -d /tmp/geodns-querylog.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start() {  # port name log-section
  local conf=$work/$2.yaml
  cat >"$conf" <<YAML
dns: {listen: ["127.0.0.1:$1"], workers: 1, fast_path: native}
http: {listen: "127.0.0.1:$(($1 + 100))"}
geoip: {city: "$GEOIP_DB"}
zones_dir: $here/zones
reload: {watch: false}
log: {level: info, $3}
YAML
  (cd "$tree" && exec taskset -c 0 "$py" -m geodns serve --config "$conf") >"$work/$2.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    dig +short +time=1 +tries=1 -p "$1" @127.0.0.1 static.geo.example A >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "querylog.sh: $2 did not start; log:" >&2; cat "$work/$2.log" >&2; exit 1
}
metric() {  # port name: the sum of a metric's samples
  curl -s "http://127.0.0.1:$(($1 + 100))/metrics" | awk -v m="$2" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%d\n", s}'
}
fstrm_capture -t protobuf:dnstap.Dnstap -u "$work/tap.sock" -w "$work/tap.fstrm" 2>"$work/fstrm.log" &
pids+=($!)
start "$base" off "queries: false"
start $((base + 1)) on "queries: true"
start $((base + 2)) dnstap "dnstap: {socket: $work/tap.sock}"
"$COMPARE" off=127.0.0.1:$base on=127.0.0.1:$((base + 1)) dnstap=127.0.0.1:$((base + 2))
sleep 1  # the writers drain their rings
on=$(metric $((base + 1)) geodns_queries_total) lines=$(grep -c 'geodns.query: query from' "$work/on.log" || true)
echo "log.queries: $lines lines for $on queries answered; dropped $(metric $((base + 1)) geodns_query_log_dropped_total)"
tapped=$(metric $((base + 2)) geodns_queries_total)
kill "${pids[3]}"; wait "${pids[3]}" 2>/dev/null || true   # the dnstap server: STOP, FINISH
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true   # fstrm_capture closes its file
frames=$(dnstap-read "$work/tap.fstrm" | grep -c ' AR ' || true)
echo "log.dnstap: $frames AUTH_RESPONSE frames for $tapped queries answered"
