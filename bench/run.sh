#!/usr/bin/env bash
# The benchmark harness: one command starts floor.py, PowerDNS-geoip, gdnsd, Knot and geodns
# on their own 127.0.0.1 ports (all at once, all pinned to CPU 0; idle ones cost nothing),
# loads them one at a time from CPU 1 (bench/compare.sh, then our own mixes), prints
# ONE table with each result's ratio to floor.py for the same mix, and stops every server
# it started on exit, failure or Ctrl-C. See bench/README.md.
#
#   bench/run.sh [--record] [--zone-names N] [--targets floor,pdns,gdnsd,knot,geodns] [--no-compare]
#   env: RUNS=3 SECS=8 BASE_PORT=53100 ECS_NETS=100000 GEODNS_WORKERS=1 GEODNS_START_TIMEOUT=60
#        KEEP_WORK=1 (keep the temp dir with generated config, server logs, raw results)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# Everything it needs is in bench/: the peers' start scripts, compare.sh, floor.py, queries/.
# PYTHON: the interpreter with uvloop and maxminddb-geolite2 (make bench passes the venv's).
python=${PYTHON:-python3}
runs=${RUNS:-3} secs=${SECS:-8}
base_port=${BASE_PORT:-53100}
ecs_nets=${ECS_NETS:-100000}
geodns_workers=${GEODNS_WORKERS:-1}
geodns_start_timeout=${GEODNS_START_TIMEOUT:-60}
host=127.0.0.1 # loopback only, always: a workplace rule, and ecsflood enforces it too
dnsperf_opts=(-c 4 -q 200) # the same as compare.sh, so every row is comparable
record=0 zone_names=0 do_compare=1 orig_args="$*"
targets=(floor pdns gdnsd knot geodns)

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --record) record=1 ;;
    --zone-names) zone_names=${2:?--zone-names N}; shift ;;
    --targets) IFS=, read -r -a targets <<<"${2:?--targets a,b}"; shift ;;
    --no-compare) do_compare=0 ;;
    -h | --help) usage 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage 2 ;;
  esac
  shift
done

log() { printf '[run.sh] %s\n' "$*" >&2; }
for tool in dnsperf dig taskset timeout ss make; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (bench/install-peers.sh installs it)" >&2; exit 2; }
done
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 CPUs; server and load generator will share one"

GEOIP_DB=${GEOIP_DB:-$("$python" -c 'from _maxminddb_geolite2 import geolite2_database as g; print(g())')}
export GEOIP_DB
[ -r "$GEOIP_DB" ] || { echo "run.sh: GeoIP DB $GEOIP_DB not readable" >&2; exit 2; }

started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
work=$(mktemp -d /tmp/geodns-bench.XXXX)
results=$work/results.tsv # target mix qps lat_ms lost cpu note
: >"$results"
declare -A port pid comm peer_dir skip rss_start rss_end
commands=() # every distinct load command, for --record

# --- lifecycle: stop exactly the processes we started, by PID, and check it is still them.
children_of() { cat "/proc/$1/task/"*/children 2>/dev/null || true; }
stop_all() {
  local t p c kids=()
  for t in "${!pid[@]}"; do
    p=${pid[$t]}
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "${comm[$t]}" ] || continue
    # geodns workers (dns.workers > 1) are our processes too: note them before the parent
    # goes, and stop any the parent leaves behind.
    for c in $(children_of "$p"); do kids+=("$c:$(cat "/proc/$c/comm" 2>/dev/null)"); done
    kill -TERM "$p" 2>/dev/null || true
  done
  for t in "${!pid[@]}"; do
    p=${pid[$t]}
    for _ in $(seq 50); do [ -d "/proc/$p" ] || break; sleep 0.1; done
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "${comm[$t]}" ]; then
      log "$t (pid $p) ignored SIGTERM; killing"
      kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true # reaps floor/geodns (our children); no-op for the peers
    [ -n "${peer_dir[$t]:-}" ] && rm -rf "${peer_dir[$t]}"
  done
  for c in "${kids[@]}"; do
    if [ -n "${c#*:}" ] && [ "$(cat "/proc/${c%%:*}/comm" 2>/dev/null)" = "${c#*:}" ]; then
      log "stopping leftover worker ${c%%:*} (${c#*:})"
      kill -TERM "${c%%:*}" 2>/dev/null || true
    fi
  done
  pid=()
}
cleanup() {
  local rc=$?
  stop_all
  if [ -n "${KEEP_WORK:-}" ]; then log "kept $work (configs, logs, raw results)"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() { [ -n "$(ss -Hlnu "sport = :$1" 2>/dev/null)$(ss -Hlnt "sport = :$1" 2>/dev/null)" ]; }
answers() { # does HOST:PORT answer static.geo.example A with 192.0.2.1?
  dig @"$host" -p "$1" +time=1 +tries=1 static.geo.example A +short 2>/dev/null | grep -q '^192\.0\.2\.1$'
}
rss_kb() { # VmRSS of a process plus its direct children (geodns workers), in kB
  local p=$1 total=0 kb c
  for c in "$p" $(children_of "$p"); do
    kb=$(awk '/^VmRSS:/{print $2}' "/proc/$c/status" 2>/dev/null || true)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}
started() { # NAME PID: remember the process so cleanup can find and verify it
  pid[$1]=$2
  comm[$1]=$(cat "/proc/$2/comm" 2>/dev/null || echo "?")
  rss_start[$1]=$(rss_kb "$2")
  log "$1 up on $host:${port[$1]} (pid $2, ${comm[$1]})"
}

start_floor() {
  commands+=("taskset -c 0 python3 bench/floor.py ${port[floor]}")
  taskset -c 0 "$python" "$here/floor.py" "${port[floor]}" >"$work/floor.log" 2>&1 &
  local p=$!
  for _ in $(seq 50); do
    answers "${port[floor]}" && { started floor "$p"; return 0; }
    kill -0 "$p" 2>/dev/null || break
    sleep 0.2
  done
  kill "$p" 2>/dev/null || true
  skip[floor]="failed to start: $(tail -1 "$work/floor.log")"
}

start_peer() { # pdns | gdnsd | knot via bench/start-NAME.sh (they print the PID)
  local t=$1 script p dir
  script=$here/start-$t.sh
  commands+=("PIN=\"taskset -c 0\" GEOIP_DB=$GEOIP_DB $script ${port[$t]}")
  if ! p=$(PIN="taskset -c 0" timeout 30 "$script" "${port[$t]}" 2>"$work/$t.err"); then
    # The script names its log ("... did not answer; log: DIR/log"); quote its last line.
    local plog
    plog=$(grep -o 'log: /tmp/peer-[^ ]*' "$work/$t.err" | head -1 | cut -c6-)
    skip[$t]="failed to start ($(tail -n 1 "${plog:-$work/$t.err}" 2>/dev/null | cut -c1-100)) ${plog:+see $plog}"
    return 0
  fi
  # The scripts leave their config in a /tmp dir named on the command line; clean it later.
  dir=$(tr '\0' '\n' <"/proc/$p/cmdline" | sed -n 's/^--config-dir=//p; /^-c$/{n;p}' | head -1)
  [ -f "$dir" ] && dir=$(dirname "$dir") # knotd -c DIR/knot.conf
  case $dir in /tmp/peer-*) peer_dir[$t]=$dir ;; esac
  started "$t" "$p"
}

start_geodns() {
  if ! command -v geodns >/dev/null; then
    skip[geodns]="not measured: the geodns command does not exist yet"
    return 0
  fi
  mkdir -p "$work/zones"
  # The bench zone alone, as the peers serve it (zones/kinds.example.yaml is peers.sh's: its
  # pools would add ~43 MB to geodns's RSS here).
  cp "$here/zones/geo.example.yaml" "$work/zones/"
  if [ "$zone_names" -gt 0 ]; then
    "$python" "$here/genzone.py" "$zone_names" "$work/zones" --queries "$work/bulk.txt"
  fi
  # The committed config with the harness's port, GeoIP DB and zones dir filled in.
  "$python" - "$here/geodns.yaml" "$work/geodns.yaml" "$host:${port[geodns]}" "$geodns_workers" \
    "$host:$((base_port + 4))" "$GEOIP_DB" "$work/zones" <<'PY'
import sys, yaml
src, dst, listen, workers, http, city, zones = sys.argv[1:]
cfg = yaml.safe_load(open(src))
cfg["dns"]["listen"] = [listen]
cfg["dns"]["workers"] = int(workers) if workers.isdigit() else workers  # or "auto"
cfg["http"]["listen"] = http
cfg["geoip"]["city"] = city
cfg["zones_dir"] = zones
yaml.safe_dump(cfg, open(dst, "w"), sort_keys=False)
PY
  commands+=("taskset -c 0 geodns serve --config \$WORK/geodns.yaml  # bench/geodns.yaml + port ${port[geodns]}, workers $geodns_workers, geoip.city, zones_dir")
  taskset -c 0 geodns serve --config "$work/geodns.yaml" >"$work/geodns.log" 2>&1 &
  local p=$! deadline=$((SECONDS + geodns_start_timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    answers "${port[geodns]}" && { started geodns "$p"; return 0; }
    kill -0 "$p" 2>/dev/null || break
    sleep 0.2
  done
  local why="exited at start"
  kill -0 "$p" 2>/dev/null && why="did not answer within ${geodns_start_timeout}s"
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  log "geodns $why; last log lines:"
  tail -5 "$work/geodns.log" >&2 || true
  skip[geodns]="$why: $(tail -1 "$work/geodns.log")"
}

# --- measuring: RUNS runs of one command, keep the median by qps (as compare.sh does).
# Reads dnsperf's summary and ecsflood's (which prints the same lines).
parse='
/Queries per second/ {q=$4}
/Average Latency/ {l=$4*1000}
/Queries lost/ {lo=$3}
/Response codes/ {  # "NOERROR 5 (50.00%), NXDOMAIN 5 (50.00%)" -> "NOERROR:50.00%,NXDOMAIN:50.00%"
  for (i = 4; i <= NF; i++) if ($i ~ /^\(/) { p=$i; gsub(/[(),]/, "", p); rc = rc (rc==""?"":",") $(i-2) ":" p }
}
/ECS in replies/ {n=split($0, f, "("); sc=f[n]; sub(/\).*/, "", sc)}
END {
  if (q + 0 == 0) { printf "0\t-\t-\tfailed: no answers\n"; exit }
  note = (sc != "") ? "ecs-scope>0:" sc : ""
  if (rc != "" && (mix == "nxdomain" || rc != "NOERROR:100.00%")) note = note (note==""?"":" ") rc
  printf "%.0f\t%.3f\t%s\t%s\n", q, l, (lo==""?"?":lo), (note==""?"-":note)
}'
# CPU use, to tell who limited a run: CPU 0 near 100% busy = the server was the limit;
# CPU 1 near 100% and CPU 0 not = the load generator was. Steal = the hypervisor gave
# our CPUs to someone else (a noisy VM neighbour): the run is not trustworthy.
cpu_snap() { # "total idle steal" of cpu0 then cpu1, in jiffies
  awk '/^cpu[01] / {printf "%d %d %d ", $2+$3+$4+$5+$6+$7+$8+$9, $5+$6, $9}' /proc/stat
}
cpu_delta() { # SNAP_BEFORE SNAP_AFTER -> "busy0/busy1<TAB>steal%"
  awk -v a="$1" -v b="$2" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    for (c = 0; c < 2; c++) {
      dt[c] = y[3*c+1] - x[3*c+1]; di[c] = y[3*c+2] - x[3*c+2]; ds[c] = y[3*c+3] - x[3*c+3]
      busy[c] = dt[c] > 0 ? 100 * (dt[c] - di[c] - ds[c]) / dt[c] : 0
    }
    st = (dt[0] + dt[1]) > 0 ? 100 * (ds[0] + ds[1]) / (dt[0] + dt[1]) : 0
    printf "%.0f/%.0f\t%.1f\n", busy[0], busy[1], st
  }'
}
cpu_window() { # sample the steady part of a run: from 1 s in to 1 s before its end
  local a w=$((secs - 2))
  [ "$w" -ge 1 ] || { printf -- '-\t0\n'; return 0; } # too short to sample
  sleep 1
  a=$(cpu_snap)
  sleep "$w"
  cpu_delta "$a" "$(cpu_snap)"
}

measure() { # TARGET MIX CMD... -> one row in results.tsv (the median run by qps)
  local t=$1 mix=$2 i
  shift 2
  commands+=("$*")
  log "$t $mix: $*"
  for i in $(seq "$runs"); do
    cpu_window >"$work/cpu.txt" &
    local sampler=$!
    out=$(timeout $((secs + 30)) "$@" 2>&1 | awk -v mix="$mix" "$parse" || true)
    wait "$sampler" || true
    printf '%s\t%s\n' "$out" "$(cat "$work/cpu.txt")"
  done | sort -t$'\t' -k1,1n | awk -v n="$runs" 'NR == int((n + 1) / 2)' |
    awk -v t="$t" -v m="$mix" -F'\t' '{
      note = $4 == "-" ? "" : $4
      if ($6 + 0 >= 3) note = note (note == "" ? "" : " ") "steal:" $6 "%"
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t, m, $1, $2, $3, $5, note == "" ? "-" : note
    }' >>"$results"
}

# --- start everything
i=0
for t in floor pdns gdnsd geodns; do port[$t]=$((base_port + i)); i=$((i + 1)); done
port[knot]=$((base_port + 5)) # base + 4 is geodns's HTTP
wanted() { [[ " ${targets[*]} " == *" $1 "* ]]; }
log "building ecsflood"
make -s -C "$here" ecsflood >&2
for t in floor pdns gdnsd knot geodns; do
  wanted "$t" || continue
  if port_busy "${port[$t]}"; then
    skip[$t]="port ${port[$t]} already in use (set BASE_PORT)"
    log "$t skipped: ${skip[$t]}"
    continue
  fi
  case $t in
    floor) start_floor ;;
    pdns | gdnsd | knot) start_peer "$t" ;;
    geodns) start_geodns ;;
  esac
  [ -n "${skip[$t]:-}" ] && log "$t skipped: ${skip[$t]}"
done
live=()
for t in floor pdns gdnsd knot geodns; do [ -n "${pid[$t]:-}" ] && live+=("$t"); done
[ ${#live[@]} -gt 0 ] || { echo "run.sh: no server started" >&2; exit 1; }

# --- the peers' comparison (static, geo-ecs), then our mixes, one target at a time
load_snap0=$(cpu_snap)
if [ "$do_compare" = 1 ]; then
  cmp_args=()
  for t in "${live[@]}"; do cmp_args+=("$t=$host:${port[$t]}"); done
  commands+=("RUNS=$runs SECS=$secs bench/compare.sh ${cmp_args[*]}")
  log "compare.sh ${cmp_args[*]} (RUNS=$runs SECS=$secs)"
  RUNS=$runs SECS=$secs timeout $(((secs + 30) * runs * 2 * ${#live[@]} + 30)) \
    "$here/compare.sh" "${cmp_args[@]}" | tee "$work/compare.out" >&2
  awk 'NR > 1 {printf "%s\t%s\t%s\t%s\t%s\t-\t-\n", $1, $2, $3, $4, $5}' "$work/compare.out" >>"$results"
fi
for t in "${live[@]}"; do
  p=${port[$t]}
  # static again, from ecsflood: shows whether dnsperf is the bottleneck for this target
  measure "$t" static-ef taskset -c 1 "$here/ecsflood" -s "$host" -p "$p" -n static.geo.example \
    -t A -x -c 200 -l "$secs"
  # 100k distinct client /24s: the first pass on a fresh server (every network new, one
  # run), then one unmeasured pass so every network has been seen, then the steady state.
  flood_ecs=(taskset -c 1 "$here/ecsflood" -s "$host" -p "$p" -n www.geo.example -t A -N "$ecs_nets" -c 200)
  saved_runs=$runs runs=1
  measure "$t" ecs100k-1st "${flood_ecs[@]}" -l "$secs"
  runs=$saved_runs
  "${flood_ecs[@]}" -l "$secs" >/dev/null 2>&1 || true
  measure "$t" ecs100k "${flood_ecs[@]}" -l "$secs"
  measure "$t" nxdomain taskset -c 1 dnsperf -s "$host" -p "$p" -d "$here/queries/nxdomain.txt" \
    -l "$secs" "${dnsperf_opts[@]}"
  if [ "$t" = floor ]; then
    printf 'floor\ttcp\t-\t-\t-\t-\tn/a: floor.py is UDP-only\n' >>"$results"
  else
    measure "$t" tcp taskset -c 1 dnsperf -m tcp -s "$host" -p "$p" -d "$here/queries/static.txt" \
      -l "$secs" "${dnsperf_opts[@]}"
  fi
  if [ "$zone_names" -gt 0 ] && { [ "$t" = geodns ] || [ "$t" = floor ]; } && [ -f "$work/bulk.txt" ]; then
    measure "$t" "bulk${zone_names}" taskset -c 1 dnsperf -s "$host" -p "$p" -d "$work/bulk.txt" \
      -l "$secs" "${dnsperf_opts[@]}"
  fi
done
for t in "${live[@]}"; do rss_end[$t]=$(rss_kb "${pid[$t]}"); done
load_snap1=$(cpu_snap)

# --- the table: grouped by mix, ratio = qps / floor's qps for the same mix
table() {
  local fmt='%-8s %-10s %8s %10s %6s %7s %8s  %s\n'
  # shellcheck disable=SC2059 # the format is ours
  printf "$fmt" target mix qps avg_lat_ms lost x_floor cpu0/1% note
  awk -F'\t' -v fmt="$fmt" '
    { row[NR]=$0; if ($1=="floor" && $3+0 > 0) floor[$2]=$3 }
    { if (!($2 in seen)) { seen[$2]=1; order[++nm]=$2 } }
    END {
      for (m=1; m<=nm; m++) for (r=1; r<=NR; r++) {
        split(row[r], f, "\t"); if (f[2] != order[m]) continue
        ratio = (f[2] in floor && f[3]+0 > 0) ? sprintf("%.2f", f[3]/floor[f[2]]) : "-"
        printf fmt, f[1], f[2], f[3], f[4], f[5], ratio, f[6], (f[7]=="-"?"":f[7])
      }
    }' "$results"
  for t in floor pdns gdnsd knot geodns; do
    # shellcheck disable=SC2059
    [ -n "${skip[$t]:-}" ] && printf "$fmt" "$t" - - - - - - "skipped: ${skip[$t]}"
  done
  echo
  echo "servers on CPU 0 (all started at once, loaded one at a time), load on CPU 1;"
  echo "median of RUNS=$runs runs of SECS=$secs s; dnsperf ${dnsperf_opts[*]}; ecsflood -c 200, $ecs_nets /24s;"
  echo "cpu0/1% = busy CPU 0 (servers) / CPU 1 (load) mid-run (~100/<100: server-bound, <100/~100: generator-bound)"
  echo "hypervisor steal over the whole load phase: $(cpu_delta "$load_snap0" "$load_snap1" | cut -f2)% of CPU time"
  printf 'RSS (VmRSS, after start -> after load):'
  for t in "${live[@]}"; do
    awk -v t="$t" -v a="${rss_start[$t]}" -v b="${rss_end[$t]}" 'BEGIN{printf " %s %.1f -> %.1f MB;", t, a/1024, b/1024}'
  done
  echo
  [ "$zone_names" -gt 0 ] && echo "geodns also served a generated zone of $zone_names names (bench/genzone.py)"
  return 0
}
table | tee "$work/table.txt"

if [ "$record" = 1 ]; then
  {
    echo
    echo "## $started_at$([ -z "${pid[geodns]:-}" ] && echo ' — geodns not yet measured')"
    echo
    echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
    echo "- peers: $(pdns_server --version 2>&1 | grep -o 'PowerDNS Authoritative Server [0-9.]*' | head -1)," \
      "$(gdnsd -h 2>&1 | grep -o 'gdnsd version [0-9.]*' | head -1), $(dnsperf -h 2>&1 | grep -o 'Version [0-9.]*' | head -1 | sed 's/Version/dnsperf/')"
    if [ -n "${pid[geodns]:-}" ]; then
      # Which geodns was measured: the checkout's commit, flagged if the tree had changes.
      local_changes=""
      git -C "$here/.." status --porcelain -- geodns 2>/dev/null | grep -q . && local_changes=" (+ uncommitted changes)"
      echo "- geodns: $(git -C "$here/.." log -1 --format='%h %s' 2>/dev/null | cut -c1-80)$local_changes"
    else
      echo "- geodns: ${skip[geodns]:-not in --targets}"
    fi
    echo "- run: RUNS=$runs SECS=$secs BASE_PORT=$base_port bench/run.sh $orig_args"
    echo
    echo '```'
    cat "$work/table.txt"
    echo '```'
    echo
    echo "Commands (servers started once; each load run RUNS times, median kept):"
    echo
    echo '```'
    printf '%s\n' "${commands[@]}" | sed "s#$here#bench#g; s#$work#\$WORK#g"
    echo '```'
  } >>"$here/RESULTS.md"
  log "appended to $here/RESULTS.md"
fi
