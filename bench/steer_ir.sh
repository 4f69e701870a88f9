#!/usr/bin/env bash
# Instructions per query of each steering mix (bench/steer_cost.py), from two callgrind runs
# (K and 2K queries; the difference over K cancels start-up): steadier than bench/steer.sh's
# timings on a shared machine, and the same comparison (capacity against plain weighted).
#   bench/steer_ir.sh [K]
set -euo pipefail
k=${1:-3000}
here=$(cd "$(dirname "$0")" && pwd)
py=$(python3 -c "import sys; print(sys.executable)")
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$py" "$here/steer_cost.py" "$1" "$2" 2>&1 |
    awk '/Collected/ {print $NF}'
}
declare -A per
for mix in plain capacity plain-sticky capacity-sticky; do
  a=$(ir "$mix" "$k"); b=$(ir "$mix" $((2 * k)))
  per[$mix]=$(((b - a) / k))
  echo "$mix: ${per[$mix]} instructions/query (K=$k)"
done
awk -v p="${per[plain]}" -v c="${per[capacity]}" -v ps="${per[plain-sticky]}" -v cs="${per[capacity-sticky]}" \
  'BEGIN{printf "capacity/plain: %.3f  capacity-sticky/plain-sticky: %.3f\n", c/p, cs/ps}'
