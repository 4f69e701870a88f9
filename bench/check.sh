#!/usr/bin/env bash
# Ask each NAME=HOST:PORT target (loopback) with dig for the names a group of compare.sh
# mixes loads, and check every answer before anything is timed; exit 1 on a wrong one.
#   bench/check.sh kinds geodns=127.0.0.1:54103 gdnsd=127.0.0.1:54102 pdns-lua=127.0.0.1:54101
#   bench/check.sh dnssec geodns=127.0.0.1:54203 knot=127.0.0.1:54205 pdns=127.0.0.1:54201
# kinds: every name of zones/kinds.example.yaml asked with ECS 81.2.69.0/24 (GB, Europe),
#   as the kinds-*-ecs mixes ask it. wrr must give a whole pool and more than one pool over
#   TRIES (30) queries, sticky the same whole pool every time, rotate a part of eu, alias the
#   CNAME and geo's answer, sub a referral (NS + glue, no AA). SKIP ("NAME:kinds-X ...",
#   as compare.sh takes it) marks what a target cannot say: shown "-", not checked.
# dnssec: static, www with ECS (geo-ecs) and a nonexistent name (nxdomain), each with DO
#   (answer + RRSIG over it; the negative answer signed: SOA and NSEC/NSEC3 with RRSIGs) and
#   without (no RRSIG at all), as static-do, geo-ecs-do, nxdomain-do and their unsigned
#   mixes ask; then delv, with the server's own DNSKEY (flags 257) as the trust anchor,
#   must call static, www (no ECS) and the nonexistent name fully validated.
set -uo pipefail
group=${1:?usage: check.sh kinds|dnssec NAME=HOST:PORT ...}
shift
SKIP=${SKIP:-} TRIES=${TRIES:-30}
ecs=81.2.69.0/24
eu=192.0.2.10,192.0.2.11,192.0.2.12,192.0.2.13 na=192.0.2.20,192.0.2.21 as=192.0.2.30
bad=0

# q HOST PORT NAME TYPE [dig options]: the whole reply in $reply, the answer section in
# $ans as sorted "TYPE DATA" lines joined with ",", its addresses alone in $addrs.
q() {
  reply=$(dig @"$1" -p "$2" +norec +time=2 +tries=1 "$3" "$4" "${@:5}" 2>&1)
  ans=$(awk '/^;; ANSWER SECTION/{s=1; next} /^$/{s=0} s && !/^;/{print $4 " " $5}' <<<"$reply" |
    sort | paste -sd, -)
  addrs=${ans//A /}
}
in_set() { # ADDRS SET: every address of ADDRS in SET (both comma-joined), at least one
  local a
  [ -n "$1" ] || return 1
  for a in ${1//,/ }; do case ",$2," in *",$a,"*) ;; *) return 1 ;; esac; done
}
pool_of() { # ADDRS: the pool whose addresses these are, or nothing
  case $1 in "$eu") echo eu ;; "$na") echo na ;; "$as") echo as ;; esac
}
row() { # NAME CASE ANSWER OK
  printf "%-10s %-12s %-3s %s\n" "$1" "$2" "$4" "$3"
  [ "$4" != NO ] || bad=1
}

kinds() { # NAME HOST PORT
  local n=$1 h=$2 p=$3 k got ok pools seen i
  for k in static geo wrr sticky rotate lat cname wildcard referral; do
    case " $SKIP " in *" $n:kinds-$k "*) row "$n" "$k" "- (cannot say it)" - && continue ;; esac
    ok=NO
    case $k in
      static) q "$h" "$p" static.kinds.example A +subnet=$ecs; got=$addrs
        [ "$got" = 192.0.2.1 ] && ok=yes ;;
      geo | lat) q "$h" "$p" $k.kinds.example A +subnet=$ecs; got=$addrs
        [ "$got" = "$eu" ] && ok=yes ;;
      wrr | sticky) seen=
        for i in $(seq "$TRIES"); do
          q "$h" "$p" $k.kinds.example A +subnet=$ecs; got=$addrs
          seen="$seen $(pool_of "$got")"
          [ -n "$(pool_of "$got")" ] || { seen=" none:$got"; break; }
        done
        pools=$(tr ' ' '\n' <<<"$seen" | grep . | sort -u | paste -sd+ -)
        got="pools $pools over $TRIES"
        case $k:$pools in *none*) ;; wrr:*+*) ok=yes ;; sticky:eu | sticky:na | sticky:as) ok=yes ;; esac ;;
      rotate) q "$h" "$p" rotate.kinds.example A +subnet=$ecs; got=$addrs
        in_set "$got" "$eu" && ok=yes ;;
      cname) q "$h" "$p" alias.kinds.example A +subnet=$ecs; got=$ans
        [ "$got" = "A ${eu//,/,A },CNAME geo.kinds.example." ] && ok=yes ;;
      wildcard) q "$h" "$p" x.wild.kinds.example A +subnet=$ecs; got=$addrs
        [ "$got" = 192.0.2.99 ] && ok=yes ;;
      referral) q "$h" "$p" www.sub.kinds.example A +subnet=$ecs; got=$ans
        if [ -z "$got" ] && ! grep -q 'flags:.* aa' <<<"$reply" &&
          grep -qE '^sub\.kinds\.example\..*NS[[:space:]]+ns\.sub\.kinds\.example\.' <<<"$reply" &&
          grep -qE '^ns\.sub\.kinds\.example\..*A[[:space:]]+192\.0\.2\.53' <<<"$reply"; then
          ok=yes got="NS ns.sub + glue 192.0.2.53, no AA"
        fi ;;
    esac
    row "$n" "$k" "${got:-none}" $ok
  done
}

signed() { # REPLY TYPE: does the answer hold TYPE and an RRSIG covering it?
  grep -qE "IN[[:space:]]+$2[[:space:]]" <<<"$1" && grep -qE "IN[[:space:]]+RRSIG[[:space:]]+$2 " <<<"$1"
}
dnssec() { # NAME HOST PORT
  local n=$1 h=$2 p=$3 c got ok
  for c in static geo-ecs nxdomain; do
    for dobit in "" -do; do
      local opts=(+subnet=$ecs)
      [ "$c" = geo-ecs ] || opts=()
      [ -z "$dobit" ] || opts+=(+dnssec)
      case $c in
        static) q "$h" "$p" static.geo.example A "${opts[@]}"; got=$ans want=192.0.2.1 ;;
        geo-ecs) q "$h" "$p" www.geo.example A "${opts[@]}"; got=$ans want=192.0.2.10 ;;
        nxdomain) q "$h" "$p" nx00001.geo.example A "${opts[@]}"; got=$ans want= ;;
      esac
      ok=NO
      if [ -z "$dobit" ]; then # unsigned: the address (or nothing), no RRSIG anywhere
        [ "$got" = "${want:+A $want}" ] && ! grep -q RRSIG <<<"$reply" && ok=yes
      elif [ -n "$want" ]; then
        signed "$reply" A && [ "$(grep -v RRSIG <<<"${got//,/$'\n'}")" = "A $want" ] && ok=yes
      else # a signed denial: NXDOMAIN or NOERROR (compact denial), signed SOA and NSEC(3)
        grep -qE 'status: (NXDOMAIN|NOERROR)' <<<"$reply" && [ -z "$got" ] &&
          signed "$reply" SOA && { signed "$reply" NSEC || signed "$reply" NSEC3; } && ok=yes
        got="$(grep -oE 'status: [A-Z]+' <<<"$reply" | cut -c9-) $(grep -cE 'IN[[:space:]]+RRSIG' <<<"$reply") RRSIGs"
      fi
      row "$n" "$c$dobit" "${got:-none}" $ok
    done
  done
  validated "$n" "$h" "$p"
}
validated() { # NAME HOST PORT: delv's verdicts, the anchor the server's KSK/CSK
  local key anchors name out ok f pr al b64 verdicts=
  key=$(dig @"$2" -p "$3" +norec +time=2 +tries=1 geo.example DNSKEY +short | awk '$1 == 257' | head -1)
  anchors=$(mktemp)
  read -r f pr al b64 <<<"$key"
  printf 'trust-anchors {\n  geo.example. static-key %s %s %s "%s";\n};\n' "$f" "$pr" "$al" \
    "${b64// /}" >"$anchors"
  ok=yes
  for name in static www nx00001; do
    # stdout's first line is the verdict ("; fully validated", "; negative response, fully
    # validated", "; unsigned answer"...); a failure leaves it empty and says why on stderr.
    out=$(delv @"$2" -p "$3" -a "$anchors" +root=geo.example "$name.geo.example" A \
      2>"$anchors.err" | head -1)
    [ -n "$out" ] || out=$(head -1 "$anchors.err")
    case $out in *"fully validated"*) ;; *) ok=NO ;; esac
    verdicts+="$name: ${out#; }; "
  done
  rm -f "$anchors" "$anchors.err"
  row "$1" delv "${verdicts%; }" $ok
}

case $group in kinds | dnssec) ;; *) echo "check.sh: no group $group (kinds, dnssec)" >&2; exit 2 ;; esac
printf "%-10s %-12s %-3s %s\n" target case ok answer
for t in "$@"; do
  name=${t%%=*} hp=${t#*=} port=${hp##*:} host=${hp%:*} host=${host#[} host=${host%]}
  case $host in 127.* | ::1 | localhost) ;; *) echo "check.sh: $host is not loopback" >&2; exit 2 ;; esac
  "$group" "$name" "$host" "$port"
done
exit $bad
