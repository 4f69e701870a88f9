"""First-pass cost of new client networks on the Python path, with and without compiled
GeoIP (geo/compiled.py), in one process, same packets: handle() over ecsflood's first N
distinct /24s (default 1,000,000) for www (geo: continent/country) and api (latency by
distance), a cold pass then a warm one. "per query" = the search-tree walk, record decode
and policy resolve for each new /24 (before) vs a binary search and a memo per class
(after). Run: python bench/compiled_cost.py [N]. Measures, asserts nothing."""

from __future__ import annotations

import sys
import time

from bench.geo_cost import ZONES, ecsflood_nets, per_query, query, rss_mb
from geodns import config, table
from geodns.dns.handler import Handler
from geodns.geo import compiled
from geodns.geo import locator as geoip
from geodns.geo.ecs import ClientFactory
from geodns.zones import load

NAMES = {
    "www": b"\x03www\x04gslb\x07example\x03com\x00",
    "api": b"\x03api\x04gslb\x07example\x03com\x00",
}


def handler(with_ranges: bool) -> Handler:
    locator = geoip.Locator.open(config.demo_geoip_path(), None)
    tab = table.compile_table(load.load_dir(str(ZONES)))
    if with_ranges:
        started = time.perf_counter()
        compiled.install(tab, compiled.compile_table(tab, locator))
        print(f"  compile: {time.perf_counter() - started:.2f} s")
    h = Handler(tab, ClientFactory(locator))
    h.reply_cache_size = 0
    return h


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    nets = ecsflood_nets(n)
    for name, wire in NAMES.items():
        packets = [query(wire, net) for net in nets]
        for with_ranges in (False, True):
            label = "compiled" if with_ranges else "per query"
            print(f"{name}, {label}:")
            h = handler(with_ranges)
            before = rss_mb()
            cold, warm = per_query(h, packets), per_query(h, packets)
            print(f"  {n} new /24s: cold {cold / 1000:.2f} us/query, warm {warm / 1000:.2f} us")
            print(f"  VmRSS {before:.0f} -> {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
