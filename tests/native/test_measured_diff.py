"""Latency trees ranked by RTTs measured per client network, on the native engine: the
compiled classes split by the measured networks (geo/measuredsplit.py) give, for every
generated query, the very bytes and counters of the handler, through changes of the
measurements (nested networks, IPv4 and IPv6) and of health; and the native side answers
them instead of handing them over. A zone measured by ASN or country stays the handler's."""

from __future__ import annotations

import ipaddress
import random
import struct
from collections import Counter

import pytest

from geodns.geo import measuredsplit
from geodns.health.steering import Measured, parse_client
from geodns.native import decisions as nativepolicy
from geodns.native import table as native
from tests.unit import test_native_diff as diff

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")

ZONE = "geo.test."
V4 = ["81.2.69.0", "12.1.0.0", "1.128.0.0", "177.0.0.0", "5.1.0.0", "89.160.20.0"]
NAMES = ["near.geo.test", "rtt.geo.test", "NEAR.geo.test"]
NEAR = diff.wire_name("near.geo.test") + b"\x00\x01\x00\x01"


class Steered(diff.Down):
    """Some members down, and the zone's measured RTTs (a HealthView, as the worker's)."""

    def __init__(self, down: set, generation: int, measured: Measured | None) -> None:
        super().__init__(down, generation)
        self.table = measured

    def measured(self, zone: str) -> Measured | None:
        return self.table if zone == ZONE else None


def measurements(rng: random.Random, extra: tuple = ()) -> Measured:
    """Networks around the fixture database's places, nested ones included, and IPv6."""
    rows: dict = {}
    for _ in range(rng.randrange(3, 12)):
        if rng.random() < 0.75:
            base = int(ipaddress.IPv4Address(rng.choice(V4))) + rng.randrange(256) * 256
            prefix = rng.choice([12, 16, 20, 22, 24, 24, 26, 28])
            text = f"{ipaddress.IPv4Address(base)}/{prefix}"
        else:
            text = f"2001:db8:{rng.randrange(16):x}::/{rng.choice([32, 40, 48, 56])}"
        pools = rng.sample(["eu", "na", "as"], rng.randrange(1, 4))
        rows[parse_client(text)] = {p: float(rng.randrange(1, 200)) for p in pools}
    for key in extra:
        rows[parse_client(key)] = {"as": 1.0}
    return Measured(rows)


def inside(rng: random.Random, measured: Measured) -> bytes:
    """An ECS option for an address in (or around) one of the measured networks."""
    _, family, prefix, net = rng.choice(list(measured.by_key))
    bits = 32 if family == 1 else 128
    address = net + rng.randrange(1 << (bits - prefix))
    source = min(bits, max(8, prefix + rng.choice([-4, 0, 0, 4, 8])))
    packed = (address >> (bits - source) << (bits - source)).to_bytes(bits // 8, "big")
    body = struct.pack("!HBB", family, source, 0) + packed[: (source + 7) // 8]
    return struct.pack("!HH", 8, len(body)) + body


def query(rng: random.Random, measured: Measured | None = None) -> tuple[bytes, str]:
    name = rng.choice(NAMES)
    data = struct.pack("!HHHHHH", rng.randrange(65536), 0x100, 1, 0, 0, 1)
    data += diff.wire_name(name) + struct.pack("!HH", rng.choice([1, 1, 28]), 1)
    opts = b""
    if rng.random() < 0.7:
        if rng.random() < 0.7:
            base = int(ipaddress.IPv4Address(rng.choice(V4))) + rng.randrange(1 << 16)
            source = rng.choice([16, 20, 24, 24, 25, 28, 32])
            addr = (base >> (32 - source) << (32 - source)).to_bytes(4, "big")
            body = struct.pack("!HBB", 1, source, 0) + addr[: (source + 7) // 8]
        else:
            source = rng.choice([32, 40, 48, 56, 64])
            addr = ipaddress.IPv6Address(f"2001:db8:{rng.randrange(16):x}::").packed
            body = struct.pack("!HBB", 2, source, 0) + addr[: (source + 7) // 8]
        opts = struct.pack("!HH", 8, len(body)) + body
    if measured is not None and rng.random() < 0.5:
        opts = inside(rng, measured)
    data += b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(opts)) + opts
    host = rng.choice([*diff.HOSTS, "81.2.69.77", "177.0.5.5"])
    return data, host


def test_measured_latency_is_the_reference_and_native() -> None:
    """24k queries over 8 measurement tables and health states: identical bytes and counters
    wherever the native side answers, and it answers (nearly) all of them."""
    rng = random.Random(19)
    seen: Counter = Counter()
    for round_ in range(8):
        down = diff.DOWN[round_ % len(diff.DOWN)] if round_ % 2 else set()
        health = Steered(down, round_ + 1, measurements(rng))
        h = diff.handler(health=health)
        built = native.for_handler(h)
        dec = nativepolicy.decisions(built, health)
        split = measuredsplit.split(h.table.fast_get(NEAR).policy.compiled, health.table)
        for _ in range(3000):
            data, host = query(rng, health.table)
            seen[diff.check(h, built, dec, data, host) > 0] += 1
            at = data.index(b"\x00\x00\x29", 12) + 11  # the OPT's options: ECS or none
            if at < len(data):  # the ECS address, whole: is its class one the measurements made?
                family, source = data[at + 5], data[at + 6]
                packed = data[at + 8 :].ljust(4 if family == 1 else 16, b"\0")
                seen["measured"] += source > 0 and split.find(packed)[0] >= len(split.compiled.reps)
    assert seen[True] > 0.95 * (seen[True] + seen[False]), seen
    assert seen["measured"] > 2000, seen  # answers from the classes the measurements made


def test_a_zone_measured_by_asn_or_country_stays_the_handlers() -> None:
    rng = random.Random(3)
    health = Steered(set(), 1, measurements(rng, ("country:GB", "asn:3320")))
    h = diff.handler(health=health)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, health)
    answered = sum(diff.check(h, built, dec, *query(rng)) for _ in range(500))
    assert answered == 0  # decided per query from each client's facts: Python's


def test_more_measured_networks_than_a_split_holds_stay_the_handlers(monkeypatch) -> None:
    """Past MAX_NETWORKS (lowered here) the zone is decided per query, as by ASN."""
    monkeypatch.setattr(measuredsplit, "MAX_NETWORKS", 2)
    rng = random.Random(5)
    health = Steered(set(), 1, measurements(rng))
    assert len(health.table.by_key) > 2
    h = diff.handler(health=health)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, health)
    assert sum(diff.check(h, built, dec, *query(rng, health.table)) for _ in range(300)) == 0
