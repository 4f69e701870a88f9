"""The client, facts and decision caches and our MaxMind reader: bounded, shared per GeoIP
network, invalidated by health and table swaps, and never a different answer than the
slow path (which parses everything and caches nothing by query bytes)."""

from __future__ import annotations

import ipaddress
import random
import socket

import dns.edns
import dns.message
import maxminddb
import pytest

from geodns import table
from geodns.dns.handler import Handler
from geodns.geo import locator as geoip
from geodns.geo import mmdb
from geodns.geo.ecs import ClientFactory
from geodns.model import FAMILY_V4, AllUp
from geodns.zones import load
from tests.servers import DATA

CITY, ASN = str(DATA / "city-test.mmdb"), str(DATA / "asn-test.mmdb")


def zones():
    return load.load_dir(str(DATA / "zones" / "geo")) + load.load_dir(str(DATA / "zones" / "core"))


def handler(cache_size: int = 131072) -> Handler:
    locator = geoip.Locator.open(CITY, ASN)
    return Handler(table.compile_table(zones()), ClientFactory(locator, cache_size=cache_size))


def query(name: str, rtype: str = "A", ecs: str | None = None, **kw) -> bytes:
    options = [dns.edns.ECSOption.from_text(ecs)] if ecs else []
    use_edns = 0 if ecs or kw.pop("edns", False) else False
    return dns.message.make_query(name, rtype, use_edns=use_edns, options=options, **kw).to_wire()


def answer(h: Handler, wire: bytes, host: str = "127.0.0.1") -> tuple[set[str], int]:
    reply = dns.message.from_wire(h.handle(wire, host))
    scope = next((o.scopelen for o in reply.options if isinstance(o, dns.edns.ECSOption)), -1)
    return {rd.to_text() for rrset in reply.answer for rd in rrset}, scope


# deterministic names only (split and rotate draw or rotate per query)
SEEDS = [
    query("static.example.test"),
    query("STATIC.Example.TEST", "AAAA", "81.2.69.0/24"),
    query("www.geo.test", "A", "81.2.69.0/24"),
    query("www.geo.test", "AAAA", "5.1.2.0/24"),
    query("www.geo.test", "A", "0.0.0.0/0"),
    query("sticky.geo.test", "A", "12.1.0.0/24"),
    query("near.geo.test", "A", "2a01:4f8::/32"),
    query("v6.geo.test", "A", "12.0.0.0/16"),
    query("nothere.geo.test", "A", "81.2.69.0/24"),
    query("nothere.example.test", "MX", edns=True),
    query("a.b.nothere.example.test"),
    query("x.edge.example.test"),
    query("deep.sub.example.test"),
    query("sub.example.test", "DS"),
    query("nothere.example.org"),
    query("nothere.geo.test", "AXFR"),
    query("nothere.geo.test", "A", want_dnssec=True),
    query("www.geo.test", "A", "81.2.69.0/24", want_dnssec=True),
]


def test_handle_equals_slow_on_seeds_and_mutations() -> None:
    h = handler()
    rng = random.Random(7871)
    packets = list(SEEDS)
    for _ in range(4000):
        wire = bytearray(rng.choice(SEEDS))
        for _ in range(rng.randrange(1, 4)):
            wire[rng.randrange(len(wire))] = rng.randrange(256)
        if rng.random() < 0.2:
            wire = wire[: rng.randrange(len(wire) + 1)]
        packets.append(bytes(wire))
    for wire in packets:
        for host in ("127.0.0.1", "81.2.69.1"):
            assert h.handle(wire, host) == h.slow(wire, host), wire.hex()
            assert h.handle(wire, host, 65535) == h.slow(wire, host, 65535), wire.hex()


def test_ecs_cache_is_bounded_and_answers_stay_right_after_eviction() -> None:
    h = handler(cache_size=4)
    nets = ["81.2.69.0/24", "5.1.2.0/24", "12.1.0.0/24", "1.0.16.0/24", "45.0.0.0/24"]
    fresh = {net: answer(handler(), query("www.geo.test", "A", net)) for net in nets}
    for _ in range(3):
        for net in nets:
            assert answer(h, query("www.geo.test", "A", net)) == fresh[net]
            assert h.memos.stored <= 4


def test_decision_cache_is_bounded_in_total() -> None:
    h = handler()
    h.memos.limit = 3
    for net in ["81.2.69.0/24", "5.1.2.0/24", "12.1.0.0/24", "1.0.16.0/24", "45.0.0.0/24"]:
        for name in ("www.geo.test", "near.geo.test", "fo.geo.test"):
            h.handle(query(name, "A", net), "127.0.0.1")
            assert h.memos.stored <= 3
    stored = sum(len(a) + len(aaaa) for a, aaaa in h.memos.decisions.values())
    assert stored <= 3


def test_facts_are_shared_per_network_and_scope_is_the_network() -> None:
    h = handler()
    # 5.1.0.0/16 in the city database; 5.1.128.0/17 in the ASN one (it splits around 5.1.2.0/24)
    one = h.clients.option_facts(b"\x00\x01\x18\x00" + bytes([5, 1, 130]))
    two = h.clients.option_facts(b"\x00\x01\x18\x00" + bytes([5, 1, 200]))
    assert one is two and one.prefix_len == 17 and one.subdivision == "DE-BE"
    assert answer(h, query("www.geo.test", "A", "5.1.130.0/24")) == ({"192.0.2.60"}, 17)
    assert answer(h, query("www.geo.test", "A", "5.1.200.0/24")) == ({"192.0.2.60"}, 17)
    # inside 5.1.0.0/16 the ASN database has 5.1.2.0/24 (AS64500): a longer network
    assert answer(h, query("www.geo.test", "A", "5.1.2.0/24")) == ({"192.0.2.50"}, 24)


def test_health_change_and_table_swap_are_seen_at_once() -> None:
    h = handler()
    ecs, plain = query("www.geo.test", "A", "81.2.69.0/24"), query("www.geo.test", "A")
    assert answer(h, ecs)[0] == answer(h, ecs)[0] == {"192.0.2.40"}
    assert answer(h, plain, "81.2.69.1")[0] == {"192.0.2.40"}

    class Down(AllUp):
        generation = 7

        def is_up(self, member) -> bool:
            return member[1] != "gb"

        def pool_generation(self, pool) -> int:
            return 7 if pool[1] == "gb" else 0

    h.health = h.answerer.health = h.memos.health = Down()
    assert answer(h, ecs)[0] == {"192.0.2.10"}  # gb down: continent:EU
    assert answer(h, plain, "81.2.69.1")[0] == {"192.0.2.10"}
    # a new table without geo.test: the cached reply, client and decision must not answer
    h.table = table.compile_table(load.load_dir(str(DATA / "zones" / "core")))
    assert dns.message.from_wire(h.handle(ecs, "127.0.0.1")).rcode() == dns.rcode.REFUSED


def test_clear_caches_forgets_clients_and_decisions() -> None:
    h = handler()
    for name in ("www.geo.test", "open.geo.test"):  # www has a cidr rule: open decides by facts
        for _ in range(8):
            h.handle(query(name, "A", "81.2.69.0/24"), "127.0.0.1")
    memos = h.memos
    assert memos.decisions and memos.stored
    h.clear_caches()
    assert not memos.decisions and not memos.stored


def test_locator_tables_are_bounded() -> None:
    locator = geoip.Locator(geoip._open(CITY, "city"), None, cache_size=2)
    for net in ("81.2.69.1", "5.1.0.1", "12.0.0.1", "1.0.16.1", "41.0.0.1"):
        facts = locator.facts(FAMILY_V4, ipaddress.ip_address(net).packed)
        assert facts.country is not None
        assert len(locator._facts) <= 2 and len(locator._places) <= 2


@pytest.mark.parametrize("path", [CITY, ASN])
def test_our_reader_matches_maxminddb(path: str) -> None:
    reader = maxminddb.open_database(path)
    meta = reader.metadata()
    db = mmdb.Database(path, meta.node_count, meta.record_size, meta.ip_version)
    rng = random.Random(3)
    samples = [rng.randbytes(4) for _ in range(500)] + [rng.randbytes(16) for _ in range(200)]
    for net in (
        "81.2.69.0/24",
        "5.1.0.0/16",
        "5.1.2.0/24",
        "31.0.0.0/24",
        "203.0.113.0/24",
        "1.0.16.0/20",
        "2a01:4f8::/32",
        "2600:1f00::/24",
        "12.0.0.0/15",
    ):
        network = ipaddress.ip_network(net)
        for _ in range(20):
            offset = rng.randrange(network.num_addresses)
            samples.append((network.network_address + offset).packed)
    for packed in samples:
        family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
        record, prefix = reader.get_with_prefix_len(socket.inet_ntop(family, packed))
        offset, ours = db.lookup(packed)
        assert ours == prefix, packed
        assert (offset == mmdb.EMPTY) == (record is None)
        if record is None:
            continue
        if "ASN" in meta.database_type:
            assert db.asn(offset) == record["autonomous_system_number"]
            continue
        continent, country, subdivision, lat, lon = db.city(offset)
        want_country = (record.get("country") or record["registered_country"])["iso_code"]
        assert continent == (record.get("continent") or {}).get("code")
        assert country == want_country
        subs = record.get("subdivisions")
        assert subdivision == (f"{want_country}-{subs[0]['iso_code']}" if subs else None)
        assert (lat, lon) == (record["location"]["latitude"], record["location"]["longitude"])
    db.release()
    db.close()


def _edns_query(name: str, options: list) -> bytes:
    return dns.message.make_query(name, "A", use_edns=0, options=options).to_wire()


def _addresses(h: Handler, wire: bytes, host: str) -> set[str]:
    reply = dns.message.from_wire(h.handle(wire, host))
    return {rd.address for rrset in reply.answer for rd in rrset}


def test_replies_decided_by_the_source_never_serve_another_source() -> None:
    """The same query bytes (EDNS, no ECS) from a London and a US address, many times over:
    each gets its own answer, every time."""
    h = handler()
    wire = _edns_query("www.geo.test", [])
    for _ in range(24):
        assert _addresses(h, wire, "81.2.69.1") == {"192.0.2.40"}  # gb
        assert _addresses(h, wire, "12.1.0.1") == {"192.0.2.20"}  # na


def test_cookie_replies_replayed_count_and_expire() -> None:
    """A resolver sending the same client cookie: every reply carries the server cookie
    made for it and is counted; after half an hour a fresh server cookie (a new timestamp)
    goes out."""
    from geodns.dns import cookies as ck

    now = [1_700_000_000.0]
    h = handler()
    h.cookies = ck.ServerCookies(bytes(16), h.memos, h.stats.cookies, clock=lambda: now[0])
    client = bytes(range(8))
    wire = _edns_query("www.geo.test", [dns.edns.CookieOption(client, b"")])

    def server_cookie() -> bytes:
        reply = dns.message.from_wire(h.handle(wire, "81.2.69.1"))
        (opt,) = [o for o in reply.options if isinstance(o, dns.edns.CookieOption)]
        assert opt.client == client
        return opt.server

    first = {server_cookie() for _ in range(24)}
    assert len(first) == 1 and h.stats.cookies["new"] == 24
    (cookie,) = first
    assert cookie == ck.server_cookie(bytes(16), client, bytes([81, 2, 69, 1]), int(now[0]))
    now[0] += ck.FRESH_FOR + 1
    later = server_cookie()
    assert later != cookie and int.from_bytes(later[4:8], "big") == int(now[0])
