#!/usr/bin/env bash
# The cost of capacity steering (issue 15, must-show 4): one geodns serves a plain weighted
# record and the same record over pools with `capacity:` fed from a Prometheus API (a tiny
# stand-in here, answering /api/v1/query with fixed loads: one pool at 0.8 = factor 0.5, the
# other at 0.5 = full share), so the policy really scales weights on every answer. dnsperf
# loads each name in turn with compare.sh's settings (server pinned to SERVER_CPU, all
# threads; dnsperf to LOAD_CPU) and the table gives qps, latency, lost queries and us_q: the
# server's CPU µs per answered query (all its processes). Loads are applied off the hot
# path, so capacity's us_q should be within 10% of plain's.
#   bench/steer.sh
#   RUNS=5 SECS=15 MIXES="plain capacity plain-sticky capacity-sticky" bench/steer.sh
# Environment: RUNS (3; the median is kept), SECS (10), CLIENTS (8), OUTSTANDING (100),
# MIXES, PORT (53250; HTTP +100, the Prometheus stand-in +200), WORKERS (dns.workers, 1),
# FAST_PATH (dns.fast_path, auto), FLIP=1 (the loaded pool's load alternates 0.8/0.85 at
# every poll: a factor change, pushed to the workers, every POLL), POLL (prometheus.interval,
# 1s), SERVER_CPU (0), LOAD_CPU (1).
# The -sticky mixes add ECS (a /24 per query from a fixed list of 1,000, as resolvers do).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
RUNS=${RUNS:-3} SECS=${SECS:-10} CLIENTS=${CLIENTS:-8} OUTSTANDING=${OUTSTANDING:-100}
MIXES=${MIXES:-plain capacity plain-sticky capacity-sticky} PORT=${PORT:-53250}
WORKERS=${WORKERS:-1} FLIP=${FLIP:-0} POLL=${POLL:-1s} SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
work=$(mktemp -d /tmp/geodns-steer.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM
ticks() { local s=0 p; for p in "$@"; do s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $s; }

# The Prometheus stand-in: /api/v1/query answers one number per pool label in the query.
cat >"$work/prom.py" <<'PY'
import json, sys, itertools
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
flip = sys.argv[2] == "1"
turn = itertools.count()
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        query = parse_qs(urlparse(self.path).query).get("query", [""])[0]
        load = 0.5
        if 'pool="ca"' in query:
            load = 0.8 if not flip or next(turn) % 2 else 0.85
        body = json.dumps({"status": "success", "data": {"resultType": "vector",
                "result": [{"metric": {}, "value": [0, str(load)]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
taskset -c "$LOAD_CPU" python3 "$work/prom.py" $((PORT + 200)) "$FLIP" &
pids+=($!)

mkdir -p "$work/zones"
cat >"$work/zones/steer.bench.yaml" <<'YAML'
zone: steer.bench.
ttl: 60
ns: [ns1.steer.bench.]
pools:
  pa: {addresses: [192.0.2.1]}
  pb: {addresses: [192.0.2.2]}
  ca: {addresses: [192.0.2.1], capacity: {query: 'max(gpu_util{pool="ca"})', low: 0.7, high: 0.9}}
  cb: {addresses: [192.0.2.2], capacity: {query: 'max(gpu_util{pool="cb"})', low: 0.7, high: 0.9}}
records:
  ns1: {A: 192.0.2.53}
  plain: {weighted: {pa: 1, pb: 1}}
  capacity: {weighted: {ca: 1, cb: 1}}
  plain-sticky: {weighted: {pa: 1, pb: 1}, sticky: true}
  capacity-sticky: {weighted: {ca: 1, cb: 1}, sticky: true}
YAML
cat >"$work/geodns.yaml" <<YAML
dns: {listen: ["127.0.0.1:$PORT"], workers: $WORKERS, fast_path: ${FAST_PATH:-auto}}
http: {listen: "127.0.0.1:$((PORT + 100))"}
zones_dir: $work/zones
reload: {watch: false}
log: {level: warning}
prometheus: {url: "http://127.0.0.1:$((PORT + 200))", interval: $POLL, timeout: 1s, stale_after: 1m}
YAML
(cd "$repo" && PYTHONPATH="$repo" exec taskset -c "$SERVER_CPU" python3 -m geodns serve \
  --config "$work/geodns.yaml") >"$work/geodns.log" 2>&1 &
pids+=($!)
loaded() {  # answering, and the loaded pool's load is in
  curl -fsS "http://127.0.0.1:$((PORT + 100))/api/v1/status" 2>/dev/null | python3 -c '
import json, sys
pools = {p["pool"]: p for p in json.load(sys.stdin)["steering"]["capacity"]}
sys.exit(0 if pools["ca"]["load"] in (0.8, 0.85) else 1)' 2>/dev/null
}
for _ in $(seq 600); do loaded && break; sleep 0.1; done
loaded || { echo "steer.sh: no load seen; log:" >&2; cat "$work/geodns.log" >&2; exit 1; }
server=$(ss -Hlunp "sport = :$PORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
for p in $server; do taskset -a -p -c "$SERVER_CPU" "$p" >/dev/null; done

echo "geodns $(git -C "$repo" rev-parse --short HEAD) workers=$WORKERS RUNS=$RUNS SECS=$SECS FLIP=$FLIP"
printf "%-16s %8s %7s %5s %6s\n" mix qps avg_ms lost us_q
for mix in $MIXES; do
  for i in $(seq 1000); do echo "$mix.steer.bench A"; done >"$work/$mix.q"
  : >"$work/$mix.rows"
done
for _ in $(seq "$RUNS"); do  # the mixes take turns, so a drift in the machine hits them alike
  for mix in $MIXES; do
    args=(-s 127.0.0.1 -p "$PORT" -d "$work/$mix.q" -l "$SECS" -c "$CLIENTS" -q "$OUTSTANDING")
    # -sticky: one ECS /24 for the whole run (dnsperf -E takes one option); the decision is
    # then cached per client network, as for a resolver's steady traffic.
    case $mix in *-sticky) args+=(-E "8:00011800510245") ;; esac
    t0=$(ticks $server)
    out=$(taskset -c "$LOAD_CPU" dnsperf "${args[@]}" 2>&1)
    t1=$(ticks $server)
    awk -v cpu=$((t1 - t0)) '/Queries per second/{q=$4} /Average Latency/{l=$4*1000}
      /Queries lost/{lo=$3} /Queries completed/{n=$3}
      END{printf "%.0f %.3f %s %.2f\n", q, l, lo, n ? cpu*10000/n : 0}' <<<"$out" >>"$work/$mix.rows"
  done
done
for mix in $MIXES; do
  sort -n "$work/$mix.rows" | awk -v m="$mix" '{a[NR]=$0}
    END{split(a[int((NR+1)/2)], f, " "); printf "%-16s %8s %7s %5s %6s\n", m, f[1], f[2], f[3], f[4]}'
done | tee "$work/table.txt"
awk '{u[$1]=$5} END{
  if (u["plain"] && u["capacity"]) printf "capacity/plain us_q: %.3f\n", u["capacity"]/u["plain"];
  if (u["plain-sticky"] && u["capacity-sticky"]) printf "capacity-sticky/plain-sticky us_q: %.3f\n", u["capacity-sticky"]/u["plain-sticky"]}' "$work/table.txt"
