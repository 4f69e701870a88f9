"""Per-query cost of a geo decision through handle(), GeoIP cache hit vs miss (run: python
bench/geo_cost.py). Measures, asserts nothing. Uses the real GeoLite2 City database."""

from __future__ import annotations

import struct
import time
from pathlib import Path

from geodns import config, geoip, table, zonefile
from geodns.handler import Handler

ZONES = Path(__file__).resolve().parent.parent / "zones"
N = 200_000


def query(name: bytes, net: bytes | None) -> bytes:
    head = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 1)
    q = name + struct.pack("!HH", 1, 1)
    opt_body = b"" if net is None else struct.pack("!HHHBB", 8, 7, 1, 24, 0) + net
    return head + q + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(opt_body)) + opt_body


def per_query(handler: Handler, packets: list[bytes]) -> float:
    handle = handler.handle
    started = time.perf_counter()
    for p in packets:
        handle(p, "127.0.0.1", False)
    return (time.perf_counter() - started) / len(packets) * 1e9


def main() -> None:
    locator = geoip.Locator.open(config.demo_geoip_path(), None, cache_size=2_000_000)
    handler = Handler(
        table.compile_table(zonefile.load_dir(str(ZONES))), geoip.ClientFactory(locator)
    )
    www = b"\x03www\x04gslb\x07example\x03com\x00"
    static = query(b"\x06static\x04gslb\x07example\x03com\x00", None)
    one = query(www, bytes([81, 2, 69]))
    nets = [bytes([1 + (i >> 16) % 222, (i >> 8) & 255, i & 255]) for i in range(N)]
    misses = [query(www, n) for n in nets]
    print(f"static answer:                      {per_query(handler, [static] * N):8.0f} ns/query")
    print(f"geo+ECS, same /24 (all cache hits):  {per_query(handler, [one] * N):8.0f} ns/query")
    print(f"geo+ECS, {N} new /24s (misses):  {per_query(handler, misses):8.0f} ns/query")
    print(f"geo+ECS, same {N} /24s again (hits): {per_query(handler, misses):8.0f} ns/query")
    print(f"GeoIP cache: {locator.cache_hits} hits, {locator.cache_misses} misses")


if __name__ == "__main__":
    main()
