#!/usr/bin/env bash
# One comparison group in one run: start geodns and the peers that can serve it (each on
# its own 127.0.0.1 port, through bench/start-*.sh PORT GROUP), check every answer with
# check.sh, then load each with compare.sh and print its table plus one ratio column; stop every
# server it started (trap: exit, error, Ctrl-C) and remove their temp dirs.
#   bench/peers.sh kinds    # geodns, gdnsd (kinds), PowerDNS LUA (kinds): kinds-*-ecs mixes;
#                           # x = us_q / that target's kinds-static-ecs us_q
#   bench/peers.sh dnssec   # geodns, Knot (onlinesign), PowerDNS geoip and LUA, all signed:
#                           # static, geo-ecs, nxdomain with and without DO;
#                           # x = us_q(-do) / us_q
# Environment: what compare.sh takes (RUNS, SECS, CLIENTS, OUTSTANDING, MODE, MIXES, SKIP,
# SERVER_CPU, LOAD_CPU), BASE_PORT (20100, below the ephemeral range: PowerDNS geoip +1,
# gdnsd +2, geodns +3, PowerDNS LUA +1 for kinds or +4 for dnssec, Knot +5), GEODNS (the
# geodns command, default geodns on PATH), GEOIP_DB (default: the GeoLite2 City DB of
# PyPI's maxminddb-geolite2, found with PYTHON, default python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
group=${1:?usage: peers.sh kinds|dnssec}
python=${PYTHON:-python3}
GEOIP_DB=${GEOIP_DB:-$("$python" -c 'from _maxminddb_geolite2 import geolite2_database as g; print(g())')}
GEODNS=${GEODNS:-geodns}
SERVER_CPU=${SERVER_CPU:-0}
export GEOIP_DB GEODNS
base=${BASE_PORT:-20100}
command -v "$GEODNS" >/dev/null || { echo "peers.sh: no $GEODNS command (GEODNS=...)" >&2; exit 2; }
case $group in
  kinds)
    servers=(pdns-lua:start-pdns-lua.sh:1 gdnsd:start-gdnsd.sh:2 geodns:start-geodns.sh:3)
    mixes="" skip=${SKIP-"gdnsd:kinds-sticky gdnsd:kinds-cname"}
    for k in static geo wrr sticky rotate cname wildcard referral lat; do mixes+=" kinds-$k-ecs"; done
    ;;
  dnssec)
    servers=(pdns:start-pdns.sh:1 pdns-lua:start-pdns-lua.sh:4 knot:start-knot.sh:5 geodns:start-geodns.sh:3)
    mixes="static static-do geo-ecs geo-ecs-do nxdomain nxdomain-do" skip=${SKIP-}
    ;;
  *) echo "peers.sh: no group $group (kinds, dnssec)" >&2; exit 2 ;;
esac
MIXES=${MIXES:-$mixes}

declare -A pid comm
targets=()
stop() { # by PID, only while it still runs the program we started; then its temp dir
  local t p d
  for t in "${!pid[@]}"; do
    p=${pid[$t]}
    d=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -o '/tmp/peer-[^/]*' | head -1 || true)
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "${comm[$t]}" ] && kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do [ -d "/proc/$p" ] || break; sleep 0.1; done
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" != "${comm[$t]}" ] || kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    [ -z "$d" ] || rm -rf "$d"
  done
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "# peers.sh $group: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# geodns: $("$GEODNS" version | paste -sd' ' -), $(git -C "$here/.." log -1 --format=%h 2>/dev/null)"
v() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
echo "# peers: pdns-server $(v pdns-server), gdnsd $(v gdnsd), knot $(v knot), dnsperf $(v dnsperf);" \
  "RUNS=${RUNS:-3} SECS=${SECS:-15} MODE=${MODE:-udp}"
for s in "${servers[@]}"; do
  IFS=: read -r name script off <<<"$s"
  port=$((base + off))
  if [ -n "$(ss -Hlnut "sport = :$port")" ]; then echo "peers.sh: port $port is taken" >&2; exit 2; fi
  p=$(PIN="taskset -c $SERVER_CPU" "$here/$script" "$port" "$group")
  pid[$name]=$p comm[$name]=$(cat "/proc/$p/comm")
  targets+=("$name=127.0.0.1:$port")
done
SKIP=$skip "$here/check.sh" "$group" "${targets[@]}" >&2 || {
  echo "peers.sh: a server gave a wrong answer (above); nothing timed" >&2
  exit 1
}
out=$(MIXES=$MIXES SKIP=$skip "$here/compare.sh" "${targets[@]}")
# The ratio column: kinds, us_q over the target's kinds-static-ecs; dnssec, a -do row's
# us_q over the same mix without DO.
awk -v g="$group" 'NR==1 {print $0 "      x"; next}
  {row[NR]=$0; t[NR]=$1; m[NR]=$2; u[NR]=$6; us[$1 " " $2]=$6}
  END {for (i = 2; i <= NR; i++) {
    mix = m[i]; tail = ""  # MODE=tcp labels read MIX/tcp
    if (index(mix, "/")) { tail = substr(mix, index(mix, "/")); mix = substr(mix, 1, index(mix, "/") - 1) }
    if (g == "kinds") base = us[t[i] " kinds-static-ecs" tail]
    else if (mix ~ /-do$/) base = us[t[i] " " substr(mix, 1, length(mix) - 3) tail]
    else base = u[i]
    x = (u[i] != "-" && base != "-" && base > 0) ? sprintf("%7.2f", u[i] / base) : "      -"
    print row[i], x}}' <<<"$out"
