"""The handler on native abuse tables (native/shared.use_native_tables) against the same
handler on dns/rrl.py and dns/cookies.py: byte-identical replies over random sequences of
queries (answers, NXDOMAIN, referrals, errors, refusals; UDP and TCP sizes; no COOKIE, a
client cookie, the server cookie we gave, a bad or malformed one; IPv4, IPv6 and mapped
sources) under a flood that rate limiting slips and drops, and the same counters."""

from __future__ import annotations

import random

import dns.edns
import dns.message
import pytest

from geodns.dns.handler import Handler
from geodns.dns.rrl import RateLimiter
from geodns.native import shared as native_abuse
from geodns.native.shared import NativeRateLimiter, NativeServerCookies
from tests.handlers import production_handler
from tests.servers import DATA

pytestmark = pytest.mark.skipif(not native_abuse.available(), reason="the C extension is not built")

SIZE = 1 << 20
EPOCH = 1_700_000_000
QUESTIONS = [
    ("static.example.test", "A"),
    ("static.example.test", "AAAA"),
    ("STATIC.Example.Test", "A"),  # the same account, case folded
    ("www.geo.test", "A"),
    ("rotate.geo.test", "A"),
    ("split.geo.test", "A"),
    ("nothere.geo.test", "A"),  # NXDOMAIN: the zone's account
    ("nothere.example.test", "TXT"),
    ("big.example.test", "TXT"),  # truncated over UDP
    ("host.sub.example.test", "A"),  # a referral
    ("outside.invalid", "A"),  # REFUSED outside every zone: the b"" account
]
HOST_SETS = [
    [
        "192.0.2.7",
        "192.0.2.99",
        "198.51.100.1",
        "2001:db8::1",
        "2001:db8:0:1::2",
        "::ffff:192.0.2.9",
    ],
    [
        "192.0.2.8",
        "192.0.2.98",
        "198.51.100.2",
        "2001:db8::3",
        "2001:db8:0:2::2",
        "::ffff:192.0.2.10",
    ],
    [
        "192.0.2.6",
        "192.0.2.97",
        "198.51.100.3",
        "2001:db8::4",
        "2001:db8:0:3::2",
        "::ffff:192.0.2.11",
    ],
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def handler(clock: Clock, rates: tuple[int, int, int]) -> Handler:
    lim = RateLimiter(rates, slip=2, window=4.0, clock=clock, size=SIZE)
    folders = [DATA / "zones" / "geo", DATA / "zones" / "core"]
    h = production_handler(folders, rng=random.Random(5), cookie_secret=bytes(range(16)), rrl=lim)
    h.cookies.clock = lambda: EPOCH + clock.now  # type: ignore[union-attr]
    return h


def wire(name: str, qtype: str, options: list | None) -> bytes:
    q = dns.message.make_query(name, qtype, use_edns=0 if options is not None else -1)
    if options is not None:
        q.use_edns(0, 0, 1232, options=options)
    return q.to_wire()


def accounts_apart(py: Handler, hosts: list[str]) -> bool:
    """Whether every (network, identity) this run can spend from has a slot of its own in
    both tables: rrl.py hashes with hash(), the C table with SipHash, and only what shares
    a slot can differ."""
    c = py.rrl_native  # type: ignore[attr-defined]
    lim = py.rrl
    keys = set()
    spare = handler(Clock(), (1, 1, 1))  # asked here: the twins' random draws stay in step
    for name, qtype in QUESTIONS:
        resp = spare.slow(wire(name, qtype, None), hosts[0], 65535)
        keys.add(spare._identity(resp))
    py_slots, c_slots = set(), set()
    for host in hosts:
        for kind, ident in keys:
            py_slots.add(hash((lim.network(host), kind, ident)) & lim.mask)  # type: ignore[union-attr]
            c_slots.add(c.table.slot(host, kind, ident))
    nets = len({lim.network(h) for h in hosts})  # type: ignore[union-attr]
    return len(py_slots) == len(c_slots) == nets * len(keys)


@pytest.mark.parametrize("rates", [(3, 2, 1), (50, 50, 50)])
def test_native_tables_give_the_python_handlers_replies(rates: tuple[int, int, int]) -> None:
    clock_a, clock_b = Clock(), Clock()
    a, b = handler(clock_a, rates), handler(clock_b, rates)
    capsules = native_abuse.use_native_tables(b)
    assert all(type(c).__name__ == "PyCapsule" for c in capsules)
    assert isinstance(b.rrl, NativeRateLimiter) and isinstance(b.cookies, NativeServerCookies)
    a.rrl_native = b.rrl  # type: ignore[attr-defined]
    hosts = next((s for s in HOST_SETS if accounts_apart(a, s)), None)
    assert hosts is not None, "every host set shares a slot: add another"
    rnd = random.Random(rates[0])
    given: dict[tuple[str, bytes], bytes] = {}
    for i in range(6000):
        step = rnd.choice([0.0, 0.0, 0.01, 0.05]) if rnd.random() > 0.01 else 5.0
        clock_a.now += step
        clock_b.now += step
        name, qtype = rnd.choice(QUESTIONS)
        host = rnd.choice(hosts)
        client = rnd.choice([b"\x01" * 8, b"\x02" * 8])
        pick = rnd.randrange(7)
        options = [
            None,
            [],
            [dns.edns.CookieOption(client, b"")],
            [dns.edns.CookieOption(client, given.get((host, client), bytes(16)))],
            [dns.edns.CookieOption(client, rnd.randbytes(16))],
            [dns.edns.GenericOption(10, rnd.randbytes(5))],  # malformed: FORMERR
            [dns.edns.ECSOption("81.2.69.0", 24), dns.edns.CookieOption(client, b"")],
        ][pick]
        data = wire(name, qtype, options)
        size = 65535 if i % 17 == 0 else 512
        want, got = a.handle(data, host, size), b.handle(data, host, size)
        assert got == want, (i, name, qtype, host, pick, size)
        if got is not None:
            reply = dns.message.from_wire(got)
            for o in reply.options:
                if o.otype == dns.edns.OptionType.COOKIE and o.server:
                    given[host, client] = o.server
    assert b.stats.rrl == a.stats.rrl and b.stats.cookies == a.stats.cookies
    limited = sum(a.stats.rrl.values())
    assert (limited > 1000) == (rates[0] < 10), a.stats.rrl  # the flood was limited, or not
    assert min(a.stats.cookies.values()) > 50, a.stats.cookies
