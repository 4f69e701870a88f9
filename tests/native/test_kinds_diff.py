"""The native answer kinds picked per query (weighted draws, sticky hashes, max_answers
rotation) against the reference handler: byte for byte over generated queries, under
health changes, with the draw shared (tests/native/draws.py) so both sides draw the same
k; and, with the native side drawing alone, the shares its draws give."""

from __future__ import annotations

import ipaddress
import random
import struct
from collections import Counter

import pytest

from geodns import policies
from geodns.dns.handler import Handler
from geodns.model import AllUp
from geodns.native import decisions as nativepolicy
from geodns.native import kinds
from geodns.native import table as native
from tests.handlers import production_handler
from tests.native.draws import SharedDraws, sync_rotations
from tests.servers import DATA

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")

NAMES = ["wrr", "heavy", "standby", "sticky", "stickyrot", "stickyfence", "rotate", "rot1"]
NAMES += ["wrot", "georand", "fodraw", "twodraw"]
CHASED = ["alias", "alias2", "ageo", "astick", "arot", "astatic", "anx", "aout", "adeleg"]
CHASED += ["aloop", "x.wild", "a.b.wild", "wild", "q.pwild", "z.cwild", "sub", "a.sub"]
CHASED += ["ns.sub", "x.y.sub", "big", "bigw", "abig"]
TYPES = [1, 1, 1, 28, 28, 5, 16, 15, 2, 43, 255, 6, 99]
NETS = [b"\x51\x02\x45", b"\x0c\x01\x00", b"\x01\x80\x00", b"\xb1\x00\x00", b"\x05\x01\x00"]


class Board(AllUp):
    """A health view whose down set changes, each change a new generation."""

    def __init__(self) -> None:
        self.down: set = set()
        self.generation = 0

    def set(self, down: set) -> None:
        self.down, self.generation = down, self.generation + 1

    def is_up(self, member) -> bool:
        return member not in self.down

    def pool_generation(self, pool) -> int:
        return self.generation


def member(pool: str, addr: str) -> tuple:
    return ("kinds.test.", pool, addr)


MULTI = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"]
HEALTH = [
    set(),
    {member("na", "192.0.2.20"), member("na", "2001:db8:a::20")},  # na down
    {member("multi", MULTI[1]), member("multi", "2001:db8:5::2")},  # rotation over fewer
    {member("eu", "192.0.2.10"), member("eu", "2001:db8:e::10"), member("as", "192.0.2.30")},
    {member("as", "192.0.2.30"), member("gb", "192.0.2.40"), member("gb", "192.0.2.41")},
    {member("na", "192.0.2.20"), member("na", "2001:db8:a::20"), member("as", "192.0.2.30")},
]


def handler(board: Board) -> Handler:
    return production_handler(DATA / "zones" / "kinds", health=board, rng=SharedDraws(9))


def wire_name(text: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in text.split(".")) + b"\x00"


def ecs(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        source = rng.choice([0, 8, 16, 20, 24, 25, 32])
        addr = bytearray((rng.choice(NETS) + rng.randbytes(1))[: (source + 7) // 8])
        family = 1
    else:
        source = rng.choice([0, 32, 48, 56, 64])
        addr = bytearray(rng.randbytes((source + 7) // 8))
        family = 2
    if source % 8:
        addr[-1] &= (0xFF << (8 - source % 8)) & 0xFF
    body = struct.pack("!HBB", family, source, 0) + bytes(addr)
    return struct.pack("!HH", 8, len(body)) + body


def query(rng: random.Random, chased: bool = False) -> bytes:
    name = rng.choice(CHASED if chased else NAMES) + ".kinds.test"
    if rng.random() < 0.2:
        name = name.upper()
    qtype = rng.choice(TYPES if chased else [1, 1, 1, 28])
    data = struct.pack("!HHHHHH", rng.randrange(65536), rng.choice([0, 0x100]), 1, 0, 0, 1)
    data += wire_name(name) + struct.pack("!HH", qtype, 1)
    if rng.random() < 0.25:
        return data[:11] + b"\x00" + data[12:]  # no EDNS
    opts = ecs(rng) if rng.random() < 0.7 else b""
    flags = 0x8000 if rng.random() < 0.3 else 0
    return data + b"\x00" + struct.pack("!HHIH", 41, 1232, flags, len(opts)) + opts


def host(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return str(ipaddress.IPv4Address(rng.choice(NETS) + rng.randbytes(1)))
    return str(ipaddress.IPv6Address(rng.randbytes(16)))


def check(h: Handler, built, dec, data: bytes, source: str, size: int = 512) -> bool:
    """True when the native side answered; its reply and counters are the reference's
    (`size`: what the transport carries, 512 for UDP, 65535 for TCP)."""
    draws = h.answerer.rng
    draws.save()
    sync_rotations(h, built)
    addr = ipaddress.ip_address(source).packed
    got = built.table.answer(data, addr, dec, None, 0, None, 0.0, draws.state, size)
    draws.restore()
    pools = dict(h.stats.by_pool)
    ref = h.handle(data, source, size, h.stats.tcp if size > 512 else h.stats.udp)
    if got is None:
        return False
    reply, _key, pool, _action = got
    assert reply == ref, (data.hex(), source, size)
    moved = {k: v - pools.get(k, 0) for k, v in h.stats.by_pool.items() if v != pools.get(k, 0)}
    assert moved == ({} if pool < 0 else {built.pool_key(pool >> 8, pool & 0xFF): 1}), (
        data.hex(),
        source,
    )
    return True


def test_every_kind_is_the_reference_under_health_changes() -> None:
    """120k queries over six health states on one handler (its counters carried across):
    identical bytes and pool counters wherever the native side answers, and it answers
    every kind but the failed-open and twice-drawn ones."""
    board = Board()
    h = handler(board)
    built = native.for_handler(h)
    rng = random.Random(21)
    answered: Counter = Counter()
    asked: Counter = Counter()
    for down in HEALTH:
        board.set(down)
        dec = nativepolicy.decisions(built, board)
        for _ in range(20000):
            data = query(rng)
            name = data[13 : 13 + data[12]].decode().lower()
            asked[name] += 1
            answered[name] += check(h, built, dec, data, host(rng))
    for name in NAMES:
        if name != "twodraw":  # a failover over two draws: both drawn when the first is down
            assert answered[name] > asked[name] * 0.6, (name, answered[name], asked[name])


def test_chains_wildcards_referrals_are_the_reference() -> None:
    """CNAME chains (to static data, to draws, sticky, rotation and geo, out of the zone,
    into a cut, loops), wildcards (static, policy, CNAME) and referrals with glue,
    100k queries under health changes: identical bytes, and the native side takes the
    kinds it holds."""
    board = Board()
    h = handler(board)
    built = native.for_handler(h)
    rng = random.Random(8)
    answered: Counter = Counter()
    for down in HEALTH[:4]:
        board.set(down)
        dec = nativepolicy.decisions(built, board)
        for _ in range(25000):
            data = query(rng, chased=True)
            end = data.index(b"\0", 12)
            key = (data[12:end].lower(), data[end + 1 : end + 3])
            answered[key] += check(h, built, dec, data, host(rng))
    a = b"\x00\x01"
    for name in ["alias", "alias2", "ageo", "astick", "arot", "astatic", "aout", "adeleg", "aloop"]:
        assert answered[(wire_name(name + ".kinds.test")[:-1], a)] > 0, name
    for name in ["x.wild", "a.b.wild", "q.pwild", "a.sub", "ns.sub", "sub", "x.y.sub"]:
        assert answered[(wire_name(name + ".kinds.test")[:-1], a)] > 0, name
    for name in ["anx", "z.cwild"]:  # NXDOMAIN at the end, a CNAME at a wildcard: Python's
        assert answered[(wire_name(name + ".kinds.test")[:-1], a)] == 0, name


def test_tcp_messages_are_the_reference() -> None:
    """The same engine for TCP (65535 bytes a message): 100k queries of every kind, the
    large answers UDP truncates included, identical to Handler.handle over TCP."""
    board = Board()
    h = handler(board)
    built = native.for_handler(h)
    rng = random.Random(4)
    answered = large = 0
    for down in HEALTH[:4]:
        board.set(down)
        dec = nativepolicy.decisions(built, board)
        for i in range(25000):
            data = query(rng, chased=bool(i & 1))
            if check(h, built, dec, data, host(rng), 65535):
                answered += 1
                large += b"\x03big" in data.lower() or b"\x04bigw" in data.lower()
    assert answered > 60000 and large > 1000, (answered, large)


def test_native_draws_give_the_weights_shares() -> None:
    """Drawing alone (its own thread state), the native side picks each pool of a 3:2:1
    weighted name in proportion (20k draws: each share within 0.02 of its weight's)."""
    board = Board()
    h = handler(board)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, board)
    data = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + wire_name("wrr.kinds.test") + b"\0\1\0\1"
    seen: Counter = Counter()
    for _ in range(20000):
        reply = built.table.answer(data, bytes(4), dec)[0]
        seen[reply[-4:]] += 1
    shares = {ipaddress.IPv4Address(k).exploded: v / 20000 for k, v in seen.items()}
    expected = {"192.0.2.10": 3 / 6, "192.0.2.20": 2 / 6, "192.0.2.30": 1 / 6}
    assert shares.keys() == expected.keys()
    for addr, share in expected.items():
        assert abs(shares[addr] - share) < 0.02, shares


def test_draw_bounds_are_exact() -> None:
    """A 1000:1:7 draw: each native bound is the first k whose Python pick differs from
    the pick of k - 1, and the outcomes between bounds are Python's."""
    board = Board()
    h = handler(board)
    built = native.for_handler(h)
    pa = next(e.policy for e in built.policies if e.policy.name == "heavy.kinds.test.")
    got = kinds.draw(kinds.Target.of(pa, 1, None), kinds.ANYONE, board)

    def pool(k: int) -> str:
        return policies.resolve(pa.node, kinds.ANYONE, board, kinds.Script(k / kinds.TOP)).pool.name

    assert [pool(b - 1) for b, _ in got] == ["eu", "na", "gb"]
    assert [pool(b) for b, _ in got[:-1]] == ["na", "gb"]
    assert got[-1][0] == kinds.TOP and len(got) == 3
