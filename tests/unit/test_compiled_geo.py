"""Compiled GeoIP (geo/compiled.py, geodns._native) against the policies' own answers.

Every check compares the compiled class of an address with what the policy tree decides
from that address's own GeoFacts (the Locator's per-address reader, geo/mmdb.py), on the
real GeoLite2-City and on the fixtures: the same key (so the same decision under any
health), the same decision under several health states, and a scope that is a prefix
around the address over which the decision truly holds (probed at its first and last
addresses). Hostile and truncated databases give a ValueError, never a crash.
"""

from __future__ import annotations

import ipaddress
import mmap
import random
from array import array

import pytest

from geodns import policies
from geodns.geo import compiled, locator, pyranges
from geodns.model import FAMILY_V4, FAMILY_V6, AllUp, Client
from geodns.policies import base
from geodns.table import compile_table
from geodns.zones.load import ZoneLoader
from tests.servers import DATA

REPO = DATA.parents[1]
CITY, ASN = DATA / "city-test.mmdb", DATA / "asn-test.mmdb"
native = pytest.importorskip("geodns._native")


class Health(AllUp):
    """All up but `down` (pool names)."""

    def __init__(self, down: frozenset[str] = frozenset()) -> None:
        self.down, self.generation = down, 1

    def is_up(self, member) -> bool:
        return member[1] not in self.down

    def pool_generation(self, pool) -> int:
        return 0


def trees(zones_dir) -> dict[str, object]:
    table = compile_table(ZoneLoader().load_dir(str(zones_dir)))
    return {pa.name: pa.node for zt in table.zones.values() for pa in zt.policies.values()}


def real_client(loc: locator.Locator, packed: bytes) -> Client:
    family = FAMILY_V4 if len(packed) == 4 else FAMILY_V6
    return Client(packed, family, len(packed) * 8, True, loc.facts(family, packed))


def edges(packed: bytes, scope: int) -> tuple[bytes, bytes]:
    bits = len(packed) * 8
    value = int.from_bytes(packed, "big")
    host = (1 << (bits - scope)) - 1
    return (value & ~host).to_bytes(len(packed), "big"), (value | host).to_bytes(len(packed), "big")


def decision(node, client: Client, health: Health) -> tuple:
    d = policies.resolve(node, client, health, random.Random(7))
    return (d.pool.name if d.pool else None, d.failed_open, d.ttl, d.max_answers)


def check_address(node, comp: compiled.Compiled, loc, packed: bytes, healths) -> None:
    """The compiled class against the tree's own key/decisions for one address."""
    cls, scope = comp.find(packed)
    client = real_client(loc, packed)
    rep = comp.client(cls)
    key = base.classify(node, client)
    assert base.classify(node, rep) == key, (ipaddress.ip_address(packed), client.facts)
    for health in healths:
        assert decision(node, rep, health) == decision(node, client, health)
    # the scope: a prefix holding the address over which the tree's key cannot change
    assert 0 <= scope <= len(packed) * 8
    if not any(getattr(n, "cidrs", ()) for n in compiled.nodes(node)):
        assert scope <= client.facts.prefix_len  # the range holds the whole GeoIP network
    for edge in edges(packed, scope):
        assert base.classify(node, real_client(loc, edge)) == key, (
            ipaddress.ip_address(packed),
            scope,
            ipaddress.ip_address(edge),
        )
        assert comp.find(edge)[0] == cls


def random_v6(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.2:  # IPv4-mapped and 6to4: the IPv4 subtree seen from IPv6
        v4 = rng.getrandbits(32).to_bytes(4, "big")
        return bytes(10) + b"\xff\xff" + v4 if kind < 0.1 else b"\x20\x02" + v4 + bytes(10)
    if kind < 0.9:
        return (0x2000 | rng.getrandbits(13)).to_bytes(2, "big") + rng.randbytes(14)
    return rng.randbytes(16)


def healths_for(node) -> list[Health]:
    names = sorted({p.name for p in policies.walk_pools(node)})
    return [Health(), *(Health(frozenset({n})) for n in names), Health(frozenset(names))]


@pytest.fixture(scope="module")
def geolite():
    path = locator.demo_geoip_path()
    if path is None:
        pytest.skip("maxminddb-geolite2 not installed")
    loc = locator.Locator.open(path, None)
    example = trees(REPO / "zones")
    built = compiled.compile_trees(example.values(), loc)
    return loc, example, {name: built[id(node)] for name, node in example.items()}


def test_geolite2_100k_addresses_agree_with_the_policies(geolite) -> None:
    loc, example, comp = geolite
    rng = random.Random(14)
    assert comp["canary.gslb.example.com."].sizes() == (1, 1)  # weighted: one class
    for name in ("www.gslb.example.com.", "api.gslb.example.com.", "shop.gslb.example.com."):
        node, c = example[name], comp[name]
        healths = healths_for(node)
        for i in range(100_000 // 3):
            packed = rng.getrandbits(32).to_bytes(4, "big") if i % 2 else random_v6(rng)
            check_address(node, c, loc, packed, healths if i % 16 == 0 else [Health()])


def test_geolite2_merged_ranges_are_wider_than_networks(geolite) -> None:
    """81.2.69.0 (GB, a /24 or so in the database) is in a much wider EU range for www."""
    loc, _example, comp = geolite
    packed = ipaddress.ip_address("81.2.69.160").packed
    _cls, scope = comp["www.gslb.example.com."].find(packed)
    assert scope < loc.facts(FAMILY_V4, packed).prefix_len


def test_fixtures_with_cidr_and_asn_rules() -> None:
    loc = locator.Locator.open(str(CITY), str(ASN))
    fixture = trees(DATA / "zones" / "geo")
    built = compiled.compile_trees(fixture.values(), loc)
    rng = random.Random(3)
    nets = [
        ipaddress.ip_network(n)
        for n in ("81.2.69.0/24", "5.1.0.0/16", "5.1.2.0/24", "12.0.0.0/15", "31.0.0.0/24")
    ] + [ipaddress.ip_network(n) for n in ("2a01:4f8::/32", "2001:db8:100::/48")]
    assert built[id(fixture["sticky.geo.test."])] is None  # sticky weighted: per query
    for node in fixture.values():
        c = built[id(node)]
        if c is None:
            continue
        healths = healths_for(node)
        for _ in range(2000):
            net = rng.choice(nets)
            offset = rng.choice((0, net.num_addresses - 1, rng.randrange(net.num_addresses)))
            packed = (net.network_address + offset).packed
            check_address(node, c, loc, packed, healths)
            check_address(node, c, loc, rng.getrandbits(32).to_bytes(4, "big"), healths[:1])


def test_python_twin_gives_the_same_ranges() -> None:
    """geo/pyranges.py (no compiler) and the C walk: byte-identical arrays."""
    loc = locator.Locator.open(str(CITY), str(ASN))
    for db in (loc.city.tree, loc.asn.tree):
        c = native.Tree(db.buf, db.node_count, db.record_size, db.ip_version)
        p = pyranges.Tree(db.buf, db.node_count, db.record_size, db.ip_version)
        assert (c.records, c.offsets()) == (p.records, p.offsets())
        if db is loc.city.tree:
            assert c.city() == p.city()
            assert c.places() == p.places()
        else:
            assert c.asn() == p.asn()
        classes = array("I", range(c.records + 1)).tobytes()
        assert c.classify(classes) == p.classify(classes)


def test_find_scope_is_the_widest_prefix_inside_the_range() -> None:
    # ranges: [0, 10.0.0.0) class 0, [10.0.0.0, 10.0.1.128) class 1, then class 2
    starts = array("I", [0, 0x0A000000, 0x0A000180]).tobytes()
    cls = array("I", [0, 1, 2]).tobytes()
    six = bytes(16), array("I", [5]).tobytes()
    for ranges in (native.Ranges(starts, cls, *six), pyranges.Ranges(starts, cls, *six)):
        assert ranges.find(bytes([10, 0, 0, 5])) == (1, 24)  # 10.0.0.0/24 fits, /23 does not
        assert ranges.find(bytes([10, 0, 1, 5])) == (1, 25)  # 10.0.1.0/25
        assert ranges.find(bytes([10, 0, 1, 200])) == (2, 25)  # 10.0.1.128/25
        assert ranges.find(bytes([9, 1, 2, 3])) == (0, 7)  # 8.0.0.0/7; /6 would reach 10/8
        assert ranges.find(bytes(16)) == (5, 0)
    with pytest.raises(ValueError):
        native.Ranges(array("I", [1]).tobytes(), array("I", [0]).tobytes(), *six)


@pytest.mark.parametrize("where", ["empty", "tree", "tree end", "data"])
def test_truncated_database_is_an_error_not_a_crash(where: str) -> None:
    db = locator.Locator.open(str(CITY), None).city.tree
    whole = bytes(db.buf[: len(db.buf)])
    data_start = db.tree_size + 16
    cut = {"empty": 0, "tree": db.tree_size // 2, "tree end": data_start, "data": data_start + 40}
    with pytest.raises(ValueError):
        tree = native.Tree(whole[: cut[where]], db.node_count, db.record_size, db.ip_version)
        tree.city()


def test_hostile_bytes_are_an_error_or_an_answer_never_a_crash() -> None:
    db = locator.Locator.open(str(CITY), None).city.tree
    whole = bytes(db.buf[: len(db.buf)])
    rng = random.Random(9)
    errors = 0
    for _ in range(1000):  # random bytes over the tree and the data section
        mutated = bytearray(whole)
        for _ in range(rng.randrange(1, 64)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            tree = native.Tree(bytes(mutated), db.node_count, db.record_size, db.ip_version)
            tree.city()
            tree.classify(array("I", [0]).tobytes() * (tree.records + 1))
        except ValueError:
            errors += 1
    assert errors > 0  # some mutations do break it, and say so


def test_reads_the_buffer_it_is_given() -> None:
    """The walk reads the sealed snapshot map (mmap) the locator holds, never a path."""
    loc = locator.Locator.open(str(CITY), None)
    assert isinstance(loc.city.tree.buf, mmap.mmap)
    db = loc.city.tree
    assert native.Tree(db.buf, db.node_count, db.record_size, db.ip_version).records > 10
