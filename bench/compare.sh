#!/usr/bin/env bash
# Load each NAME=HOST:PORT target (loopback) in turn with identical dnsperf settings; print
# one line per target and query mix: the median qps of RUNS runs, that run's average
# latency and lost queries, the server's CPU time per answered query (us_q: tells servers
# apart when dnsperf is the bottleneck) and its RSS. Whatever listens on the target's UDP
# port is pinned to CPU SERVER_CPU (all threads), dnsperf to CPU LOAD_CPU.
#   bench/compare.sh geodns=127.0.0.1:53103 pdns=127.0.0.1:53101 gdnsd=127.0.0.1:53102
# A mix is bench/queries/MIX.txt (static, geo, mixed, nxdomain); a "-ecs" suffix adds ECS
# 81.2.69.0/24 (GB, Europe) to every query, "-cookie" a client DNS COOKIE, "-do" the DNSSEC
# OK bit. Environment: MIXES (static geo-ecs), RUNS (3), SECS (15), CLIENTS (8),
# OUTSTANDING (100), RATE (unset; N = dnsperf -Q N), MODE (udp; tcp), SKIP (unset;
# "NAME:MIX ...": that target cannot say that mix's answer, so its row shows "-" for the
# figures and it is not loaded; MIX is a whole mix or its query file, kinds-sticky skips
# kinds-sticky-ecs and kinds-sticky-ecs-do too). kinds-* mixes ask the names of
# zones/kinds.example.yaml, one kind of answer each (bench/peers.sh kinds runs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MIXES=${MIXES:-static geo-ecs} RUNS=${RUNS:-3} SECS=${SECS:-15}
CLIENTS=${CLIENTS:-8} OUTSTANDING=${OUTSTANDING:-100} RATE=${RATE:-}
SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1} MODE=${MODE:-udp}
ecs="8:00011800510245"       # option 8 (ECS): family 1, source /24, scope 0, 81.2.69
cookie="10:5ca1ab1e0ddba11c" # option 10 (COOKIE): a client cookie alone
ticks() { # CPU ticks (user + system) of the given processes
  local s=0 p
  for p in "$@"; do s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat"))); done
  echo $s
}
rss_mb() {
  local s=0 p
  for p in "$@"; do s=$((s + $(awk '/^VmRSS/{print $2}' "/proc/$p/status"))); done
  echo $((s / 1024))
}

SKIP=${SKIP:-}
skipped() { # NAME MIX FILE: is NAME:MIX or NAME:FILE in SKIP?
  case " $SKIP " in *" $1:$2 "* | *" $1:$3 "*) return 0 ;; esac
  return 1
}

printf "%-12s %-22s %8s %7s %5s %6s %6s\n" target mix qps avg_ms lost us_q rss_mb
for t in "$@"; do
  name=${t%%=*} hp=${t#*=} port=${hp##*:} host=${hp%:*} host=${host#[} host=${host%]}
  case $host in 127.* | ::1 | localhost) ;; *) echo "compare.sh: $host is not loopback" >&2; exit 2 ;; esac
  pids=$(ss -Hlunp "sport = :$port" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true)
  [ -n "$pids" ] || { echo "compare.sh: nothing listens on udp port $port" >&2; exit 2; }
  for p in $pids; do taskset -a -p -c "$SERVER_CPU" "$p" >/dev/null; done
  for mix in $MIXES; do
    file=${mix%-do} file=${file%-ecs} file=${file%-cookie}
    args=(-s "$host" -p "$port" -d "$here/queries/$file.txt" -l "$SECS" -c "$CLIENTS"
      -q "$OUTSTANDING" -m "$MODE")
    case $mix in *-ecs | *-ecs-do) args+=(-E "$ecs") ;; *-cookie | *-cookie-do) args+=(-E "$cookie") ;; esac
    case $mix in *-do) args+=(-D) ;; esac
    [ -z "$RATE" ] || args+=(-Q "$RATE")
    label=$mix
    [ "$MODE" = udp ] || label=$mix/$MODE
    if skipped "$name" "$mix" "$file"; then
      # shellcheck disable=SC2086 # pids: one word each
      printf "%-12s %-22s %8s %7s %5s %6s %6s\n" "$name" "$label" - - - - "$(rss_mb $pids)"
      continue
    fi
    # shellcheck disable=SC2086 # pids: one word each
    for _ in $(seq "$RUNS"); do
      t0=$(ticks $pids)
      out=$(taskset -c "$LOAD_CPU" dnsperf "${args[@]}" 2>&1)
      t1=$(ticks $pids)
      awk -v cpu=$((t1 - t0)) '/Queries per second/{q=$4} /Average Latency/{l=$4*1000}
        /Queries lost/{lo=$3} /Queries completed/{n=$3}
        END{printf "%.0f %.3f %s %.2f\n", q, l, lo, n ? cpu*10000/n : 0}' <<<"$out"
    done | sort -n | awk -v n="$name" -v m="$label" -v r="$(rss_mb $pids)" '{a[NR]=$0}
      END{split(a[int((NR+1)/2)], f, " ")
          printf "%-12s %-22s %8s %7s %5s %6s %6s\n", n, m, f[1], f[2], f[3], f[4], r}'
  done
done
