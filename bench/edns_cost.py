"""Per-query cost of Handler.handle for EDNS mixes, no sockets: static, geo + ECS, geo + ECS
with the options resolvers add (COOKIE; NSID, padding, an unknown code), NXDOMAIN (run:
python bench/edns_cost.py [N]). Test zones and the tiny test .mmdb; each case repeats one
query's bytes, min of 7 runs. Measures, asserts nothing."""

from __future__ import annotations

import inspect
import struct
import sys
import timeit
from pathlib import Path

from geodns import table
from geodns.dns.handler import Handler

try:  # zones/load.py from the zone reuse on
    from geodns.zones.load import load_dir
except ImportError:  # pragma: no cover - before it
    from geodns.zones.zonefile import load_dir  # type: ignore[no-redef]
from geodns.geo.locator import Locator

try:  # geo/ecs.py from the ECS module on
    from geodns.geo.ecs import ClientFactory
except ImportError:  # pragma: no cover - before it
    from geodns.geo.locator import ClientFactory  # type: ignore[no-redef,attr-defined]

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
ECS = struct.pack("!HHHBB", 8, 7, 1, 24, 0) + bytes([81, 2, 69])
COOKIE = struct.pack("!HH", 10, 24) + bytes(range(24))
NSID = struct.pack("!HH", 3, 0)
PADDING = struct.pack("!HH", 12, 8) + bytes(8)
UNKNOWN = struct.pack("!HH", 65001, 3) + b"abc"


def name(text: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in text.split(".")) + b"\x00"


def query(qname: str, options: bytes | None) -> bytes:
    head = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, int(options is not None))
    q = name(qname) + struct.pack("!HH", 1, 1)
    if options is None:
        return head + q
    return head + q + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(options)) + options


CASES = {
    "static": query("static.example.test", None),
    "static+ECS": query("static.example.test", ECS),
    "static+ECS+COOKIE": query("static.example.test", ECS + COOKIE),
    "geo+ECS": query("www.geo.test", ECS),
    "geo+ECS+COOKIE": query("www.geo.test", COOKIE + ECS),
    "geo+ECS+all": query("www.geo.test", COOKIE + NSID + ECS + PADDING + UNKNOWN),
    "NXDOMAIN": query("nope.example.test", None),
    "NXDOMAIN+ECS": query("nope.example.test", ECS),
    "NXDOMAIN+ECS+COOKIE": query("nope.example.test", ECS + COOKIE),
}


def handler() -> Handler:
    zones = load_dir(str(DATA / "zones" / "geo")) + load_dir(str(DATA / "zones" / "core"))
    locator = Locator.open(str(DATA / "city-test.mmdb"), str(DATA / "asn-test.mmdb"))
    return Handler(table.compile_table(zones), ClientFactory(locator))


def main(n: int) -> None:
    h = handler()
    new = "max_size" in inspect.signature(h.handle).parameters
    for case, data in CASES.items():
        if new:
            count = h.stats.udp
            run = lambda d=data, c=count: h.handle(d, "127.0.0.1", 512, c)  # noqa: E731
        else:
            run = lambda d=data: h.handle(d, "127.0.0.1", False)  # noqa: E731
        assert run() is not None, case
        best = min(timeit.repeat(run, number=n, repeat=7)) / n * 1e9
        print(f"{case:22s} {best:8.0f} ns")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
