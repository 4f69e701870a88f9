#!/usr/bin/env bash
# Instructions per query of one bench/geo_cost.py case, from two callgrind runs (K and 2K
# queries; the difference over K cancels start-up). Steadier than timings on a shared VM.
#   bench/ir.sh CASE [K]     CASE: static static-ecs nxdomain same24 cold warm
set -euo pipefail
case=${1:?case}; k=${2:-2000}
here=$(cd "$(dirname "$0")" && pwd)
py=$(python3 -c "import sys; print(sys.executable)")
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$py" "$here/geo_cost.py" --only "$case" "$1" 2>&1 |
    awk '/Collected/ {print $NF}'
}
a=$(ir "$k"); b=$(ir $((2 * k)))
echo "$case: $(((b - a) / k)) instructions/query (K=$k)"
