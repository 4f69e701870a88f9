"""GeoIP, ECS and routing policies over real UDP/TCP, on the tiny fixture databases."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from geodns.model import AllUp
from tests.conftest import HAS_IPV6, raw_udp
from tests.servers import DATA, WORKERS, ServerThread, write_config

# Who answers matters here: `make test` runs these again with two workers and on the
# Python fast path (-m workers, -m fast_path).
pytestmark = [pytest.mark.workers, pytest.mark.fast_path]

CITY, ASN = DATA / "city-test.mmdb", DATA / "asn-test.mmdb"
POOLS = {
    "eu": {"192.0.2.10", "2001:db8:e::10"},
    "na": {"192.0.2.20", "2001:db8:a::20"},
    "as": {"192.0.2.30"},
    "gb": {"192.0.2.40"},
    "debe": {"192.0.2.50"},
    "as3320": {"192.0.2.60"},
    "lab": {"192.0.2.70"},
    "dflt": {"192.0.2.90"},
}


class DownSet(AllUp):
    """A health view for tests: members listed as down are down.

    Each instance is a new generation, as the HealthView protocol asks of any change.
    """

    made = 0

    def __init__(self, down: set[tuple[str, str, str]]) -> None:
        self.down = down
        DownSet.made += 1
        self.generation = 1_000_000 + DownSet.made

    def is_up(self, member) -> bool:
        return member not in self.down


@pytest.fixture(scope="module")
def geo_server(tmp_path_factory) -> ServerThread:
    tmp = tmp_path_factory.mktemp("geo")
    listen = ["127.0.0.1:0", "[::1]:0"] if HAS_IPV6 else ["127.0.0.1:0"]
    conf = write_config(
        tmp,
        DATA / "zones" / "geo",
        dns={"listen": listen},
        geoip={"city": str(CITY), "asn": str(ASN)},
    )
    server = ServerThread(conf).start()
    yield server
    server.stop()


def set_health(server: ServerThread, view) -> None:
    """Members the view calls down are drained, the rest undrained (drained counts as down),
    through the board that feeds every worker process; returns once all of them have it."""

    async def apply() -> None:
        board = server.app.board
        for member in board.members():
            if view.is_up(member):
                board.undrain(member)
            else:
                board.drain(member)
        assert await server.app.health_synced()

    server.call(apply)


def ask(server, name, rtype="A", ecs=None, tcp=False, family=4):
    options = [dns.edns.ECSOption.from_text(ecs)] if ecs else []
    q = dns.message.make_query(f"{name}.geo.test", rtype, use_edns=0, options=options)
    reply = server.tcp(q, family) if tcp else server.udp(q, family)
    addrs = {rd.address for rrset in reply.answer for rd in rrset}
    scope = next((o.scopelen for o in reply.options if isinstance(o, dns.edns.ECSOption)), None)
    return reply, addrs, scope


@pytest.mark.parametrize(
    ("ecs", "pool", "scope"),
    [
        ("5.1.0.0/24", "lab", 24),  # cidr beats everything
        # asn beats subdivision. Scope 21: the ASN tree holds 5.1.8.0/21 (5.1.2.0/24 is
        # carved out of 5.1.0.0/16) and the cidr rule 5.1.0.0/24 first differs at bit 21.
        ("5.1.9.0/24", "as3320", 21),
        ("81.2.69.0/24", "gb", 24),  # country:GB beats continent:EU
        ("2.2.3.0/24", "eu", 16),  # France: continent
        # Scopes are merged ranges (docs/reference.md, ECS): US-NY 12.1.0.0/16 and US-CA 12.0.0.0/16
        # both lead to continent:NA (no US subdivision rule; AS7018 has none): /15.
        ("12.1.0.0/24", "na", 15),
        ("1.0.16.0/24", "as", 20),
        # South America: default, as is all of 128.0.0.0/1 (only SA, SE without a continent
        # and no data there): /1.
        ("177.0.0.0/24", "dflt", 1),
        # no GeoIP data: default; the scope is the empty region maxminddb reports (/3 here)
        ("100.64.1.0/24", "dflt", 3),
        ("2a01:4f8::/48", "eu", 32),  # DE without subdivision, AS24940: continent
        ("2001:db8:100::/48", "gb", 48),
        ("2400:cb00::/40", "as", 32),
    ],
)
@pytest.mark.parametrize("tcp", [False, True])
def test_geo_selectors_and_scope(geo_server, ecs, pool, scope, tcp) -> None:
    _reply, addrs, got_scope = ask(geo_server, "www", "A", ecs, tcp)
    assert addrs == {a for a in POOLS[pool] if ":" not in a}
    assert got_scope == min(scope, int(ecs.split("/")[1]))


def test_scope_never_exceeds_source_prefix(geo_server) -> None:
    _, _addrs, scope = ask(geo_server, "www", "A", "81.2.0.0/16")
    assert scope <= 16
    _, _, scope = ask(geo_server, "www", "A", "81.2.69.7/32")  # truncated to /24 for the decision
    assert scope == 24


def test_static_and_failover_scope_zero(geo_server) -> None:
    assert ask(geo_server, "ns1", "A", "81.2.69.0/24")[2] == 0
    _, addrs, scope = ask(geo_server, "fo", "A", "81.2.69.0/24")
    assert addrs == {"192.0.2.20"} and scope == 0
    assert ask(geo_server, "split", "A", "81.2.69.0/24")[2] == 0


def test_source_prefix_zero_decides_by_packet_source(geo_server) -> None:
    _, addrs, scope = ask(geo_server, "www", "A", "0.0.0.0/0")
    assert addrs == {"192.0.2.90"}  # 127.0.0.1 has no GeoIP data: default
    assert scope == 0


def test_without_ecs_the_source_decides(geo_server) -> None:
    _reply, addrs, scope = ask(geo_server, "www", "A")
    assert addrs == {"192.0.2.90"} and scope is None


def test_ipv6_transport_and_aaaa(geo_server) -> None:
    if not HAS_IPV6:
        pytest.skip("no IPv6 loopback")
    _, addrs, scope = ask(geo_server, "open", "AAAA", "2a01:4f8::/56", family=6)
    assert addrs == {"2001:db8:e::10"} and scope == 32


def test_pool_without_the_family_is_nodata(geo_server) -> None:
    reply, addrs, _ = ask(geo_server, "v6", "A", "81.2.69.0/24")
    assert reply.rcode() == dns.rcode.NOERROR and not addrs
    assert reply.authority[0].rdtype == dns.rdatatype.SOA
    assert ask(geo_server, "v6", "AAAA")[1] == {"2001:db8:6::1"}


def test_no_default_is_nodata(geo_server) -> None:
    assert ask(geo_server, "nodefault", "A", "81.2.69.0/24")[1] == {"192.0.2.10"}
    reply, addrs, scope = ask(geo_server, "nodefault", "A", "12.1.0.0/24")
    # NODATA for every address between the EU networks 5.1.0.0/16 and 31.0.0.0/24: the
    # widest prefix around 12.1.0.0 inside that gap is 8.0.0.0/5
    assert not addrs and reply.rcode() == dns.rcode.NOERROR and scope == 5


def test_latency_by_distance_and_rtt(geo_server) -> None:
    assert ask(geo_server, "near", "A", "87.32.1.0/24")[1] == {"192.0.2.10"}  # Dublin -> eu
    assert ask(geo_server, "near", "A", "24.48.0.0/24")[1] == {"192.0.2.20"}  # Toronto -> na
    assert ask(geo_server, "near", "A", "1.128.0.0/24")[1] == {"192.0.2.30"}  # Sydney -> as
    assert ask(geo_server, "near", "A", "100.64.0.0/24")[1] == {"192.0.2.10"}  # unknown: first
    assert ask(geo_server, "rtt", "A", "81.2.69.0/24")[1] == {"192.0.2.20"}  # rtt table wins
    assert ask(geo_server, "rtt", "A", "2.2.0.0/24")[1] == {"192.0.2.10"}  # no entry: distance


def test_max_answers_rotates_and_ttl(geo_server) -> None:
    # Rotation is per worker process; with one worker two answers cover all four, with
    # several each must have answered twice, which 40 queries make all but certain.
    every = {"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"}
    seen: list[frozenset] = []
    for _ in range(40 if WORKERS > 1 else 4):
        reply, addrs, _ = ask(geo_server, "rotate", "A")
        assert len(addrs) == 2 and reply.answer[0].ttl == 5
        seen.append(frozenset(addrs))
    assert len(set(seen)) >= 2
    assert set().union(*seen) == every


def test_nested_three_deep(geo_server) -> None:
    reply, addrs, scope = ask(geo_server, "nested", "A", "81.2.69.0/24")
    assert addrs == {"192.0.2.40"} and reply.answer[0].ttl == 30 and scope == 24
    set_health(geo_server, DownSet({("geo.test.", "gb", "192.0.2.40")}))
    try:
        got = Counter()
        for _ in range(40):
            reply, addrs, scope = ask(geo_server, "nested", "A", "81.2.69.0/24")
            assert reply.answer[0].ttl == 7  # the deepest node that set a ttl
            got[frozenset(addrs)] += 1
        assert set(got) == {frozenset({"192.0.2.10"}), frozenset({"192.0.2.50"})}
        assert ask(geo_server, "nested", "A", "12.1.0.0/24")[1] == {"192.0.2.90"}
    finally:
        set_health(geo_server, DownSet(set()))


def test_when_all_down_open_and_nodata(geo_server) -> None:
    down = {("geo.test.", p, a) for p in ("eu", "na") for a in POOLS[p]}
    set_health(geo_server, DownSet(down))
    try:
        assert ask(geo_server, "open", "A", "81.2.69.0/24")[1] == {"192.0.2.10"}  # fail open
        reply, addrs, _ = ask(geo_server, "fence", "A", "81.2.69.0/24")
        assert not addrs and reply.rcode() == dns.rcode.NOERROR  # the geofence holds
        assert ask(geo_server, "fo", "A")[1] == {"192.0.2.20"}  # failover: first pool
        set_health(geo_server, DownSet({("geo.test.", "eu", a) for a in POOLS["eu"]}))
        assert ask(geo_server, "open", "A", "81.2.69.0/24")[1] == {"192.0.2.20"}  # falls to default
        assert ask(geo_server, "standby", "A")[1] == {"192.0.2.20"}  # weight 0 only now
    finally:
        set_health(geo_server, DownSet(set()))
    assert ask(geo_server, "standby", "A")[1] == {"192.0.2.10"}


@pytest.mark.parametrize(
    "option",
    [
        b"\x00\x03\x18\x00\x51\x02\x45",  # family 3
        b"\x00\x01\x21\x00\x51\x02\x45\x00\x00",  # /33 for IPv4
        b"\x00\x01\x18\x00\x51\x02",  # /24 with 2 address octets
        b"\x00\x01\x17\x00\x51\x02\x45",  # /23 with a bit set past the prefix
        b"\x00\x01",  # too short
    ],
)
def test_malformed_ecs_is_formerr(geo_server, option: bytes) -> None:
    q = dns.message.make_query("www.geo.test", "A", use_edns=0).to_wire()
    opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00" + len(option).to_bytes(2, "big")
    body = q[:-2] + (len(option) + 4).to_bytes(2, "big") + b"\x00\x08" + opt[-2:] + option
    del opt
    reply = raw_udp(geo_server.where(4), body)
    assert reply is not None and reply[3] & 0x0F == dns.rcode.FORMERR


def test_weighted_shares_via_handle(geo_server) -> None:
    """100,000 picks through handle(): each pool's share within 1 point of its weight."""
    handler = geo_server.app.handler
    wire = dns.message.make_query("split.geo.test", "A").to_wire()

    def picks() -> Counter:
        handler.answerer.rng = random.Random(2024)
        counts: Counter = Counter()
        for _ in range(100_000):
            counts[handler.handle(wire, "192.0.2.200")[-4:]] += 1
        return counts

    counts = geo_server.call(picks, timeout=120)
    eu = counts[bytes([192, 0, 2, 10])] / 100_000
    na = counts[bytes([192, 0, 2, 20])] / 100_000
    assert abs(eu - 0.75) < 0.01 and abs(na - 0.25) < 0.01
    assert eu + na == 1


def test_sticky_same_pool_for_a_whole_network(geo_server) -> None:
    handler = geo_server.app.handler
    wire = dns.message.make_query("sticky.geo.test", "A").to_wire()

    def answers(prefix: str) -> set[bytes]:
        return {handler.handle(wire, f"{prefix}.{i}")[-4:] for i in range(256)}

    for prefix in ("198.18.7", "198.18.8", "203.0.113", "45.0.0"):
        assert len(geo_server.call(lambda p=prefix: answers(p))) == 1
    spread = {next(iter(geo_server.call(lambda p=f"198.19.{n}": answers(p)))) for n in range(40)}
    assert len(spread) == 3  # different networks do spread over all three pools


def test_explain_agrees_with_real_queries(geo_server) -> None:
    from geodns.ops.explain import explain

    rng = random.Random(99)
    handler = geo_server.app.handler
    for _ in range(1000):
        if rng.random() < 0.8:
            addr = ipaddress.IPv4Address(rng.getrandbits(32))
            ecs = f"{ipaddress.ip_network(f'{addr}/24', strict=False)}"
        else:
            addr = ipaddress.IPv6Address(rng.getrandbits(128))
            ecs = f"{ipaddress.ip_network(f'{addr}/48', strict=False)}"
        name = rng.choice(["www", "near", "nested", "open"])
        report = geo_server.call(
            lambda n=name, e=ecs: explain(handler, f"{n}.geo.test", "A", "127.0.0.1", e)
        )
        _, addrs, scope = ask(geo_server, name, "A", ecs)
        shown = {rr.split()[-1] for rr in report["answer"]}
        assert shown == addrs, (name, ecs, report)
        assert report["ecs_scope"] == scope
