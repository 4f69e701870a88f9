"""Per-query cost of handle() for the benchmark mixes, no sockets (run: python
bench/geo_cost.py [N]). Demo zone, real GeoLite2 City. The ECS networks are ecsflood's:
the first N (default 100,000) public /24s of its congruential walk, so the cold pass here
is the cold pass of `make -C bench ecsflood` runs. Measures, asserts nothing; prints the
process's VmRSS so the cost of the caches shows too."""

from __future__ import annotations

import struct
import sys
import time
from pathlib import Path

from geodns import config, table
from geodns.dns.handler import Handler
from geodns.geo import locator as geoip
from geodns.geo.ecs import ClientFactory
from geodns.zones import load

ZONES = Path(__file__).resolve().parent.parent / "zones"
WWW = b"\x03www\x04gslb\x07example\x03com\x00"
STATIC = b"\x06static\x04gslb\x07example\x03com\x00"
REPEAT = 200_000  # queries for the single-query lines


def query(name: bytes, net: bytes | None, edns: bool = True) -> bytes:
    head = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, int(edns))
    q = name + struct.pack("!HH", 1, 1)
    if not edns:
        return head + q
    opt_body = b"" if net is None else struct.pack("!HHHBB", 8, 7, 1, 24, 0) + net
    return head + q + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(opt_body)) + opt_body


def ecsflood_nets(n: int) -> list[bytes]:
    """bench/ecsflood.c's make_nets(): distinct public /24s, spread over the space."""
    out, x = [], 0x5EED42
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0xFFFFFF
        a, b = x >> 16, (x >> 8) & 0xFF
        if a in (0, 10, 127) or a >= 224:
            continue
        if (a == 100 and b & 0xC0 == 64) or (a, b) == (169, 254):
            continue
        if (a == 172 and b & 0xF0 == 16) or (a, b) == (192, 168):
            continue
        out.append(x.to_bytes(3, "big"))
    return out


def per_query(handler: Handler, packets: list[bytes]) -> float:
    handle = handler.handle
    started = time.perf_counter()
    for p in packets:
        handle(p, "127.0.0.1")
    return (time.perf_counter() - started) / len(packets) * 1e9


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def setup() -> tuple[geoip.Locator, Handler]:
    locator = geoip.Locator.open(config.demo_geoip_path(), None)
    handler = Handler(table.compile_table(load.load_dir(str(ZONES))), ClientFactory(locator))
    return locator, handler


def only(case: str, count: int) -> None:
    """One case, `count` queries, for instruction counts: run it under callgrind twice
    (two counts) and divide the difference (bench/ir.sh does)."""
    _, handler = setup()
    packets = {
        "static": lambda: [query(STATIC, None, False)] * count,
        "static-ecs": lambda: [query(STATIC, bytes([81, 2, 69]))] * count,
        "nxdomain": lambda: [
            query(b"\x05nx%03d\x04gslb\x07example\x03com\x00" % (i % 1000), None)
            for i in range(count)
        ],
        "same24": lambda: [query(WWW, bytes([81, 2, 69]))] * count,
        "cold": lambda: [query(WWW, net) for net in ecsflood_nets(count)],
        "warm": lambda: [query(WWW, net) for net in ecsflood_nets(1000)],
    }[case]()
    if case == "warm":  # every /24 seen once, then `count` queries over them again
        handler.reply_cache_size = 0  # as with 100k /24s: replies are not found again
        per_query(handler, packets)
        packets = (packets * (count // len(packets) + 1))[:count]
    per_query(handler, packets)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--only":
        return only(sys.argv[2], int(sys.argv[3]))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    locator, handler = setup()
    nets = ecsflood_nets(n)
    misses = [query(WWW, net) for net in nets]
    nx = [
        query(b"\x05nx%03d\x04gslb\x07example\x03com\x00" % (i % 1000), None) for i in range(REPEAT)
    ]
    lines = [
        ("static answer, no EDNS", [query(STATIC, None, False)] * REPEAT),
        ("static answer, ECS", [query(STATIC, bytes([81, 2, 69]))] * REPEAT),
        ("NXDOMAIN, EDNS", nx),
        ("geo+ECS, same /24", [query(WWW, bytes([81, 2, 69]))] * REPEAT),
    ]
    for label, packets in lines:
        print(f"{label:44s} {per_query(handler, packets):8.0f} ns/query")
    before = rss_mb()
    cold, warm = per_query(handler, misses), per_query(handler, misses)
    print(f"{f'geo+ECS, {n} new /24s (cold pass)':44s} {cold:8.0f} ns/query")
    print(f"{'geo+ECS, the same /24s again (warm)':44s} {warm:8.0f} ns/query")
    after = rss_mb()
    print(f"VmRSS {before:.1f} MB before the /24 passes, {after:.1f} MB after")
    print(f"GeoIP cache: {locator.cache_hits} hits, {locator.cache_misses} misses")


if __name__ == "__main__":
    main()
