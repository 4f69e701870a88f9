"""The routing diff on GeoLite2-City: moving continent:EU from pool eu to pool us reports
exactly the EU ranges, and a real server agrees once the change is made.

The expected EU set is read with the maxminddb reader (its own tree walk and decoder, not
geodns's), plus the database's IPv6 aliases of the IPv4 subtree, found by asking the reader.
"""

from __future__ import annotations

import ipaddress
import random
from bisect import bisect_right
from pathlib import Path

import dns.edns
import dns.message
import maxminddb
import pytest
import yaml

from geodns import build
from geodns import config as cfg
from geodns.config import demo_geoip_path
from geodns.zonediff import routing_diff, zone_from_document
from geodns.zonediff.routing import databases
from tests.servers import ServerThread, wait_for, write_config

GEOLITE2 = demo_geoip_path()
pytestmark = pytest.mark.skipif(GEOLITE2 is None, reason="maxminddb-geolite2 not installed")

POOLS = {"eu": "192.0.2.10", "us": "198.51.100.10", "ap": "203.0.113.10"}
# Where an IPv6 tree may hold the IPv4 one, and how far the IPv4 address is shifted there:
# ::a.b.c.d (the IPv4 subtree itself), IPv4-mapped, 6to4 (2002:V4::/48), Teredo (2001:0:V4::).
PLACES_OF_V4 = (("::", 0), ("::ffff:0:0", 0), ("2002::", 80), ("2001::", 64))


def document(eu_pool: str) -> dict:
    return {
        "zone": "gslb.example.com.",
        "ns": ["ns1.gslb.example.com."],
        "pools": {name: {"addresses": [a]} for name, a in POOLS.items()},
        "records": {
            "ns1": {"A": "203.0.113.1"},
            "www": {"geo": {"continent:EU": eu_pool, "country:JP": "ap", "default": "us"}},
        },
    }


def merged(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for first, last in sorted(intervals):
        if out and first <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return [(a, b) for a, b in out]


def span(net: ipaddress._BaseNetwork) -> tuple[int, int]:
    return int(net.network_address), int(net.broadcast_address)


@pytest.fixture(scope="module")
def eu_by_reader() -> dict:
    """EU intervals per family, and a sample of non-EU networks, walking the .mmdb."""
    reader = maxminddb.open_database(GEOLITE2)
    v4, v6, others = [], [], []
    for net, rec in reader:
        if (rec.get("continent") or {}).get("code") == "EU":
            (v4 if net.version == 4 else v6).append(span(net))
        elif len(others) < 200_000 and rec:
            others.append(net)
    native6 = list(v6)
    london = int(ipaddress.IPv4Address("81.2.69.160"))
    probe = reader.get_with_prefix_len("81.2.69.160")  # EU
    for base, shift in PLACES_OF_V4:
        offset = int(ipaddress.IPv6Address(base))
        record, prefix = reader.get_with_prefix_len(
            str(ipaddress.IPv6Address(offset | london << shift))
        )
        if record == probe[0] and prefix == probe[1] + 96 - shift:
            low = (1 << shift) - 1
            v6 += [(offset | a << shift, offset | b << shift | low) for a, b in v4]
    reader.close()
    assert len(v6) > len(native6), "the IPv4 subtree appears in the IPv6 space"
    return {"ipv4": merged(v4), "ipv6": merged(v6), "others": others}


@pytest.fixture(scope="module")
def diff() -> list[dict]:
    locator = build.open_locator(cfg.embedded_default())
    old, new = zone_from_document(document("eu")), zone_from_document(document("us"))
    return routing_diff(old, new, databases(locator), None, limit=10**7)


def reported(diff: list[dict], family: str) -> list[tuple[int, int]]:
    nets = [ipaddress.ip_network(r) for e in diff if e["family"] == family for r in e["ranges"]]
    return merged([span(n) for n in nets])


def test_moved_ranges_are_the_eu_ranges(diff: list[dict], eu_by_reader: dict) -> None:
    assert {(e["name"], e["from"], e["to"]) for e in diff} == {
        ("www.gslb.example.com.", "eu", "us")
    }
    for entry in diff:
        assert entry["count"] == len(entry["ranges"]) > 1000
    assert reported(diff, "ipv4") == eu_by_reader["ipv4"]
    assert reported(diff, "ipv6") == eu_by_reader["ipv6"]


def inside(intervals: list[tuple[int, int]], value: int) -> bool:
    i = bisect_right(intervals, (value, 1 << 129)) - 1
    return i >= 0 and intervals[i][0] <= value <= intervals[i][1]


def samples(diff: list[dict], eu_by_reader: dict, rng: random.Random) -> tuple[list, list]:
    """1,000 addresses from the reported ranges and 1,000 from outside them (half random
    over the space, half from the database's other networks)."""
    moved = [ipaddress.ip_network(r) for e in diff for r in e["ranges"]]
    ins = []
    for net in rng.sample(moved, 1000):
        ins.append(net.network_address + rng.randrange(net.num_addresses))
    spans = {4: reported(diff, "ipv4"), 6: reported(diff, "ipv6")}
    outs: list = []
    while len(outs) < 1000:
        if len(outs) % 2:
            net = rng.choice(eu_by_reader["others"])
            addr = net.network_address + rng.randrange(net.num_addresses)
        elif len(outs) % 4:
            addr = ipaddress.IPv6Address((1 << 125) | rng.getrandbits(125))  # 2000::/3
        else:
            addr = ipaddress.IPv4Address(rng.getrandbits(32))
        if not inside(spans[addr.version], int(addr)) and not addr.is_multicast:
            outs.append(addr)
    return ins, outs


def pool_for(server: ServerThread, addr: ipaddress._BaseAddress) -> str:
    ecs = dns.edns.ECSOption(str(addr), 32 if addr.version == 4 else 128)
    query = dns.message.make_query("www.gslb.example.com", "A", use_edns=0, options=[ecs])
    answer = {rd.address for rrset in server.udp(query).answer for rd in rrset}
    (pool,) = [name for name, a in POOLS.items() if answer == {a}]
    return pool


def test_a_real_server_moves_exactly_the_reported_clients(
    diff: list[dict], eu_by_reader: dict, tmp_path: Path
) -> None:
    ins, outs = samples(diff, eu_by_reader, random.Random(21))
    zones = tmp_path / "zones"
    zones.mkdir()
    zone_file = zones / "gslb.example.com.yaml"
    zone_file.write_text(yaml.safe_dump(document("eu")))
    ecs = {"max_source_v4": 32, "max_source_v6": 128}
    conf = write_config(tmp_path, zones, geoip={"city": GEOLITE2}, ecs=ecs)
    server = ServerThread(conf).start()
    try:
        before = {a: pool_for(server, a) for a in [*ins, *outs]}
        assert {before[a] for a in ins} == {"eu"}  # the diff's "from"
        zone_file.write_text(yaml.safe_dump(document("us")))
        assert server.call(server.app.reload)
        london = ipaddress.ip_address("81.2.69.160")
        wait_for(lambda: pool_for(server, london) == "us")
        moved = [a for a in ins if pool_for(server, a) != "us"]
        assert moved == []
        changed = [a for a in outs if pool_for(server, a) != before[a]]
        assert changed == []
        assert {before[a] for a in outs} >= {"us", "ap"}  # the outside holds other answers
    finally:
        server.stop()
