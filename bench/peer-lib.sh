# Sourced by bench/start-*.sh: the benchmark zone every peer serves, the GEOIP_DB check, a
# temp dir for config and log, and a wait until the new server answers.
# The zone: geo.example SOA+NS, ns1 A 127.0.0.1, static A 192.0.2.1, www A/AAAA by client
# continent: EU .10/::10, NA .20/::20, AS .30/::30, anything else .40/::40 (geodns serves
# the same from bench/zones/geo.example.yaml). A second argument picks a variant of the
# script: "kinds" (also serve kinds.example, bench/zones/kinds.example.yaml translated),
# "dnssec" (sign geo.example online, ECDSA P-256), where the script has it.
set -euo pipefail
if [ -z "${GEOIP_DB:-}" ] || [ ! -r "$GEOIP_DB" ]; then
  echo "GEOIP_DB must name a readable GeoLite2-City .mmdb (PyPI's maxminddb-geolite2 ships one)" >&2
  exit 2
fi
port=${1:?usage: $(basename "$0") PORT [VARIANT]}
variant=${2:-}
dir=$(mktemp -d "/tmp/peer-$(basename "$0" .sh | sed 's/^start-//')${variant:+-$variant}.XXXX")
log=$dir/log
pin=${PIN:-} # e.g. PIN="taskset -c 0"
# variant NAME...: exit 2 unless the variant given is empty or one of NAME.
variants() {
  local v
  for v in "" "$@"; do [ "$variant" = "$v" ] && return 0; done
  rm -rf "$dir"
  echo "$(basename "$0"): no variant \"$variant\" (has: $*)" >&2
  exit 2
}

# zone_head: the records every peer's zone starts with (TTL, SOA, NS, ns1, static), so the
# zones the peers serve cannot drift apart.
zone_head() {
  printf '%s\n' '$TTL 300' '@      SOA ns1 hostmaster 1 3600 600 604800 60' '@      NS  ns1' \
    'ns1    A   127.0.0.1' 'static A   192.0.2.1'
}

# pdns_common: the pdns.conf lines both PowerDNS peers share (loopback $port, one thread of
# each kind, in the foreground, nothing else listening).
pdns_common() {
  cat <<CONF
edns-subnet-processing=yes
local-address=127.0.0.1
local-port=$port
receiver-threads=1
distributor-threads=1
socket-dir=$dir
daemon=no
guardian=no
webserver=no
security-poll-suffix=
setuid=
setgid=
CONF
}

# started PID: wait until static.geo.example answers on 127.0.0.1:$port, then print the PID.
# START_TRIES (100): how many 0.2 s waits before giving up.
started() {
  local pid=$1
  # Interrupted while waiting: the server is not ours to leave behind (nobody has its PID).
  trap 'kill "$pid" 2>/dev/null; rm -rf "$dir"; exit 130' INT TERM
  for _ in $(seq "${START_TRIES:-100}"); do
    kill -0 "$pid" 2>/dev/null || break
    if dig @127.0.0.1 -p "$port" +time=1 +tries=1 static.geo.example A +short 2>/dev/null |
      grep -qx 192.0.2.1; then
      echo "$(basename "$0" .sh): pid $pid on 127.0.0.1:$port, config and log in $dir" >&2
      echo "$pid"
      return 0
    fi
    sleep 0.2
  done
  echo "$(basename "$0"): server did not answer on port $port; log: $log" >&2
  tail -n 20 "$log" >&2
  kill "$pid" 2>/dev/null
  exit 1
}
