"""CHAOS, NSID and TC on the native engine against the reference handler: CH TXT for the
id and version names (and REFUSED for the rest), our NSID option when asked, and the TC
reply of an answer over the client's UDP size, byte for byte the handler's over generated
queries (cookies, ECS, DO, payload sizes, UDP and TCP), counted under its labels; and the
same replies rate limited exactly as the handler limits them."""

from __future__ import annotations

import ipaddress
import random
import struct
from collections import Counter

import pytest

from geodns.dns.identity import Identity
from geodns.dns.rrl import RateLimiter
from geodns.native import decisions as nativepolicy
from geodns.native import shared as native_abuse
from geodns.native import table as native
from tests.native import test_kinds_diff as kinds

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")

NOW = 1_800_000_000  # the wall clock both sides make server cookies at
CHAOS = ["id.server", "hostname.bind", "version.bind", "version.server", "ID.Server"]
CHAOS += ["VERSION.BIND", "authors.bind", "x.id.server", "server", "big.kinds.test"]
IN_NAMES = ["big", "bigw", "abig", "wrr", "static-none", "alias", "x.wild", "a.sub", "nx"]
CH_TYPES = [16, 16, 16, 255, 1, 6, 252]
IN_TYPES = [1, 1, 28, 16, 255, 6]


def options(rng: random.Random) -> bytes:
    out = b""
    if rng.random() < 0.5:
        out += struct.pack("!HH", 3, 0)  # NSID: who are you
    if rng.random() < 0.35:
        cookie = rng.randbytes(rng.choice([8, 8, 24, 16]))
        out += struct.pack("!HH", 10, len(cookie)) + cookie
    if rng.random() < 0.4:
        out = kinds.ecs(rng) + out if rng.random() < 0.5 else out + kinds.ecs(rng)
    return out


def query(rng: random.Random, limited: bool = False) -> bytes:
    """A generated query; `limited`: only what the native side answers (a query handed
    over would spend the reference's accounts alone)."""
    chaos = rng.random() < 0.4
    if chaos:
        name, qtype, qclass = rng.choice(CHAOS[: -2 if limited else None]), rng.choice(CH_TYPES), 3
    else:
        name = rng.choice(["big", "bigw", "wrr", "nx"] if limited else IN_NAMES) + ".kinds.test"
        qtype, qclass = rng.choice([1, 28] if limited else IN_TYPES), 1
        if rng.random() < 0.1:  # outside our zones, or another class: REFUSED
            inside = ("www.example.org", 4) if limited else (name, 4)  # in a zone: Python's
            name, qclass = rng.choice([("www.example.org", 1), ("id.server", 1), inside])
    if rng.random() < 0.2:
        name = name.swapcase()
    edns = rng.random() < 0.75
    flags = rng.choice([0, 0x100, 0x110])
    data = struct.pack("!HHHHHH", rng.randrange(65536), flags, 1, 0, 0, int(edns))
    data += kinds.wire_name(name) + struct.pack("!HH", qtype, qclass)
    if edns:
        opts = options(rng)
        payload = rng.choice([0, 512, 600, 700, 1232, 4096])
        do = 0x8000 if rng.random() < 0.3 else 0
        data += b"\x00" + struct.pack("!HHIH", 41, payload, do, len(opts)) + opts
    return data


def handler(identity: Identity, cookies: bool, rrl=None):
    h = kinds.handler(kinds.Board())
    h.identity = identity
    h.cookies = None  # as with cookies.enabled false, unless asked for below
    if cookies:  # the handler's server cookies on the native table, at a fixed clock
        from geodns.dns.cookies import ServerCookies

        h.cookies = ServerCookies(b"k" * 16, h.memos, h.stats.cookies)
        native_abuse.use_native_tables(h)
        h.cookies.clock = lambda: NOW
    if rrl is not None:
        h.rrl = rrl
        h.handle = h._limited  # type: ignore[method-assign]
    return h


def check(h, built, dec, data: bytes, source: str, size: int, jar) -> bytes | None:
    """The native reply (None: handed over), asserted to be the reference's, counters too."""
    draws = h.answerer.rng
    draws.save()
    kinds.sync_rotations(h, built)
    addr = ipaddress.ip_address(source).packed
    got = built.table.answer(data, addr, dec, jar, NOW, None, 0.0, draws.state, size)
    draws.restore()
    count = h.stats.tcp if size > 512 else h.stats.udp
    before = dict(h.stats.queries)
    ref = h.handle(data, source, size, count)
    if got is None:
        return None
    reply, (zone, qtype, rcode), _pool, _action = got
    assert reply == ref, (data.hex(), source, size)
    moved = {k: v - before.get(k, 0) for k, v in h.stats.queries.items() if v != before.get(k, 0)}
    transport = "tcp" if size > 512 else "udp"
    assert moved == {(built.zones[zone], qtype, rcode, transport): 1}, data.hex()
    return reply


IDENTITIES = [
    Identity("ns1.test", "1.2", nsid=True, chaos=True, hide_version=False),
    Identity("a-much-longer-instance-name-" * 8, "1.2", nsid=True, chaos=True, hide_version=True),
    Identity("ns2", "1.2", nsid=False, chaos=False, hide_version=False),
]


@pytest.mark.parametrize("cookies", [False, True], ids=["plain", "cookies"])
@pytest.mark.parametrize("identity", IDENTITIES, ids=["nsid", "long-hidden", "off"])
def test_chaos_nsid_tc_are_the_reference(identity: Identity, cookies: bool) -> None:
    """12k generated queries a setting (72k in all): where the native side answers, the
    handler's bytes and counters; it answers CHAOS, NSID and TC replies, not hands them over."""
    h = handler(identity, cookies)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, h.health)
    jar = h.cookies.capsule() if cookies else None
    rng = random.Random(len(identity.instance) * 2 + cookies)
    seen: Counter = Counter()
    for _ in range(12000):
        data = query(rng)
        size = 65535 if rng.random() < 0.2 else 512
        reply = check(h, built, dec, data, kinds.host(rng), size, jar)
        if reply is None:
            seen["python"] += 1
            continue
        seen["native"] += 1
        seen["chaos"] += data[-4:-2] == b"\x00\x03" or b"\x00\x03\x00\x00\x29" in data
        seen["refused"] += reply[3] & 0xF == 5
        seen["tc"] += bool(reply[2] & 0x02)
        seen["nsid"] += b"\x00\x03" + struct.pack("!H", len(identity.instance)) in reply[12:]
    assert seen["chaos"] > 2000 and seen["refused"] > 500 and seen["tc"] > 300, seen
    if identity.nsid:
        assert seen["nsid"] > 2000, seen
    assert seen["python"] < seen["native"] // 4, seen


def test_known_identity_answers() -> None:
    """By hand: id.server. TXT CH is the instance, version.bind. REFUSED when hidden, an
    NSID query gets the option, a 40-address answer over UDP without EDNS is TC."""
    ident = Identity("ns1.test", "9.9", nsid=True, chaos=True, hide_version=True)
    h = handler(ident, False)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, h.health)

    def ask(name: str, qtype: int, qclass: int, opts: bytes | None) -> bytes:
        data = struct.pack("!HHHHHH", 7, 0, 1, 0, 0, int(opts is not None))
        data += kinds.wire_name(name) + struct.pack("!HH", qtype, qclass)
        if opts is not None:
            data += b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(opts)) + opts
        got = built.table.answer(data, bytes(4), dec, None, NOW, None, 0.0, None, 0)
        assert got is not None, name
        return got[0]

    reply = ask("id.server", 16, 3, None)
    assert reply[3] == 0 and reply[2] & 0x04 and reply.endswith(b"\x08ns1.test")
    assert ask("version.bind", 16, 3, None)[3] & 0xF == 5
    assert ask("www.example", 16, 3, None)[3] & 0xF == 5
    nsid = ask("big.kinds.test", 1, 1, struct.pack("!HH", 3, 0))
    assert nsid.endswith(struct.pack("!HH", 3, 8) + b"ns1.test")
    big = ask("big.kinds.test", 1, 1, None)
    assert big[2] & 0x02 and big[6:12] == bytes(6) and len(big) == 12 + 20


@pytest.mark.skipif(not native_abuse.available(), reason="geodns._native not built")
def test_rate_limits_hold_on_chaos_and_tc_replies() -> None:
    """A flood of CHAOS, NSID and oversized questions at one instant: the native side, on a
    table of its own, limits, slips and drops them as the handler does on another (same
    settings, clock, sequence), byte for byte; TCP is never limited on either side."""
    now = 1000.0
    settings = {"window": 15.0, "slip": 2, "log_only": False, "clock": lambda: now}
    ident = Identity("ns1.test", "1.2", nsid=True, chaos=True, hide_version=False)
    h = handler(ident, True, RateLimiter((5, 3, 3), **settings))
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, h.health)
    jar = h.cookies.capsule()
    ours = native_abuse.NativeRateLimiter((5, 3, 3), **settings)
    rng = random.Random(6)
    actions: Counter = Counter()
    for _ in range(4000):
        data = query(rng, limited=True)
        source = rng.choice(["198.51.100.7", "2001:db8::7", "81.2.69.1"])
        size = 65535 if rng.random() < 0.15 else 512
        draws = h.answerer.rng
        draws.save()
        kinds.sync_rotations(h, built)
        addr = ipaddress.ip_address(source).packed
        lim = ours.capsule() if size == 512 else None  # the TCP door never limits
        got = built.table.answer(data, addr, dec, jar, NOW, lim, now, draws.state, size)
        draws.restore()
        ref = h.handle(data, source, size, h.stats.tcp if size > 512 else h.stats.udp)
        assert got is not None, data.hex()
        assert got[0] == ref, (data.hex(), source, size)
        actions[(size, got[3])] += 1
    assert actions[(512, 0)] and actions[(512, 2)], actions  # slips and drops natively
    assert set(a for s, a in actions if s == 65535) == {-1}, actions
