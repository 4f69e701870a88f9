"""Compile time of GeoIP ranges for a zone directory (default: the example zones) against
GeoLite2-City (maxminddb-geolite2's): the shared walk and decode, then each policy name's
tree, and the process's peak RSS. Run: python bench/compile_geo.py [ZONES_DIR].
Set GEODNS_NO_NATIVE=1 for the pure-Python compile. Measures, asserts nothing."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from geodns.geo import compiled, locator
from geodns.table import compile_table
from geodns.zones.load import ZoneLoader

ZONES = Path(__file__).resolve().parent.parent / "zones"


def main() -> None:
    zones = sys.argv[1] if len(sys.argv) > 1 else str(ZONES)
    loc = locator.Locator.open(locator.demo_geoip_path(), None)
    table = compile_table(ZoneLoader().load_dir(zones))
    names = {pa.name: pa.node for zt in table.zones.values() for pa in zt.policies.values()}
    started = time.perf_counter()
    dbs = compiled.Databases.of(loc)
    print(f"walk + decode: {time.perf_counter() - started:.2f} s ({len(dbs.places)} places)")
    for name, node in names.items():
        t = time.perf_counter()
        c = compiled.compile_tree(node, dbs)
        sizes = c.sizes() if c is not None else "not compiled"
        print(f"  {name}: {time.perf_counter() - t:.2f} s, ranges {sizes}")
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"total {total:.2f} s ({'native' if compiled.NATIVE else 'pure Python'}), peak {peak} MB")


if __name__ == "__main__":
    main()
