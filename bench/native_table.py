"""What flattening a zone set for the native path costs: load + compile, the GeoIP compile,
the native table (geodns._native.Table, native/table.py) and the policy decisions
(native/decisions.py), each timed, with the bytes the table holds and the peak RSS.

    python3 bench/genzone.py 1000000 /tmp/z && python3 bench/native_table.py /tmp/z
"""

from __future__ import annotations

import resource
import sys
import time

from geodns.config import demo_geoip_path
from geodns.geo import compiled
from geodns.geo.locator import Locator
from geodns.model import AllUp
from geodns.native import decisions as nativepolicy
from geodns.native import table as native
from geodns.table import compile_table
from geodns.zones.load import ZoneLoader


def main(zones_dir: str) -> None:
    t0 = time.perf_counter()
    table = compile_table(ZoneLoader().load_dir(zones_dir))
    t1 = time.perf_counter()
    compiled.install(table, compiled.compile_table(table, Locator.open(demo_geoip_path(), None)))
    t2 = time.perf_counter()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    built = native.build(table)
    t3 = time.perf_counter()
    nativepolicy.decisions(built, AllUp())
    t4 = time.perf_counter()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"load+compile {t1 - t0:.1f} s, GeoIP compile {t2 - t1:.1f} s, native table "
        f"{t3 - t2:.2f} s ({built.table.nbytes() / 1e6:.0f} MB), decisions {t4 - t3:.2f} s "
        f"({len(built.policies)} policy entries); peak RSS {rss0 / 1024:.0f} -> "
        f"{rss1 / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main(sys.argv[1])
