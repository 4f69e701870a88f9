"""handle() called directly, no sockets: the fast path and the slow path must agree."""

from __future__ import annotations

import dns.edns
import dns.message

from geodns.dns.handler import Handler
from geodns.model import AllUp
from tests.handlers import production_handler
from tests.servers import DATA


def handler() -> Handler:
    folders = [DATA / "zones" / "geo", DATA / "zones" / "core"]
    return production_handler(folders, cookies={"enabled": False})


QUERIES = [
    ("static.example.test", "A", None),
    ("static.example.test", "AAAA", "81.2.69.0/24"),
    ("www.geo.test", "A", "81.2.69.0/24"),
    ("www.geo.test", "A", "2a01:4f8::/32"),
    ("www.geo.test", "AAAA", "12.1.0.0/24"),
    ("near.geo.test", "A", "1.128.0.0/24"),
    ("v6.geo.test", "A", None),
    ("example.test", "SOA", None),
    ("example.test", "NS", "81.2.69.0/24"),
]


def test_fast_and_slow_paths_give_the_same_bytes() -> None:
    h = handler()
    for name, rtype, ecs in QUERIES:
        options = [dns.edns.ECSOption.from_text(ecs)] if ecs else []
        for edns in (False, True):
            if ecs and not edns:
                continue
            q = dns.message.make_query(name, rtype, use_edns=0 if edns else False, options=options)
            wire = q.to_wire()
            fast = h.handle(wire, "198.51.100.7")
            slow = h.slow(wire, "198.51.100.7")
            assert fast == slow, (name, rtype, ecs, edns)
            assert dns.message.from_wire(fast).rcode() == 0


def test_stats_count_each_query_once() -> None:
    h = handler()
    wire = dns.message.make_query("www.geo.test", "A").to_wire()
    for _ in range(10):
        h.handle(wire, "81.2.69.1")
    assert h.stats.queries[("geo.test.", 1, 0, "udp")] == 10
    assert sum(h.stats.by_pool.values()) == 10


def test_reply_cache_never_crosses_clients_or_health() -> None:
    """ECS /0 decides by source (not cached by bytes); a health change is seen at once."""
    h = handler()
    zero = dns.message.make_query(
        "www.geo.test", "A", use_edns=0, options=[dns.edns.ECSOption.from_text("0.0.0.0/0")]
    ).to_wire()
    london = dns.message.make_query("www.geo.test", "A").to_wire()

    def addrs(wire: bytes, host: str) -> set[str]:
        reply = dns.message.from_wire(h.handle(wire, host))
        return {rd.address for rrset in reply.answer for rd in rrset}

    assert addrs(zero, "81.2.69.1") == {"192.0.2.40"}  # gb, from the packet source
    assert addrs(zero, "12.1.0.1") == {"192.0.2.20"}  # na: not the cached gb reply
    assert addrs(london, "81.2.69.1") != addrs(london, "12.1.0.1")

    class Down(AllUp):
        generation = 99

        def is_up(self, member) -> bool:
            return member[1] != "gb"

        def pool_generation(self, pool) -> int:
            return 99 if pool[1] == "gb" else 0

    ecs = dns.message.make_query(
        "www.geo.test", "A", use_edns=0, options=[dns.edns.ECSOption.from_text("81.2.69.0/24")]
    ).to_wire()
    before = h.handle(ecs, "127.0.0.1")
    assert h.handle(ecs, "127.0.0.1") == before
    h.health = h.answerer.health = h.memos.health = Down()
    assert h.handle(ecs, "127.0.0.1") != before  # gb is down: continent:EU now
