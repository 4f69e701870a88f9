"""The native fast path against the reference: for generated and mutated queries, every
reply geodns._native makes is byte for byte what Handler.handle returns, and it is
counted under the labels the Python path counts it with. Called directly, no sockets."""

from __future__ import annotations

import ipaddress
import random
import struct

import pytest

from geodns import table
from geodns.dns.handler import Handler
from geodns.dns.rrl import RateLimiter
from geodns.model import AllUp
from geodns.native import decisions as nativepolicy
from geodns.native import shared as native_abuse
from geodns.native import table as native
from geodns.zones import load
from tests.handlers import production_handler
from tests.native.draws import SharedDraws, sync_rotations
from tests.servers import DATA, REPO

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")

TYPES = [1, 2, 5, 6, 12, 15, 16, 28, 33, 43, 99, 255, 257, 41, 251, 252, 130, 65, 0, 65535]


def zones() -> list:
    return (
        load.load_dir(str(DATA / "zones" / "geo"))
        + load.load_dir(str(DATA / "zones" / "core"))
        + load.load_dir(str(REPO / "zones"))
    )


def handler(**kw) -> Handler:
    """Settings as the config says them (SETTINGS' short names: dns and ecs keys)."""
    dns = {"nsid": kw.pop("nsid", False), "chaos": True, "hide_version": False}
    if "max_udp_payload" in kw:
        dns["max_udp_payload"] = kw.pop("max_udp_payload")
    v4, v6 = kw.pop("max_source", (24, 56))
    ecs = {"max_source_v4": v4, "max_source_v6": v6, "enabled": kw.pop("ecs_enabled", True)}
    kw.setdefault("cookies", {"enabled": False})
    folders = [DATA / "zones" / "geo", DATA / "zones" / "core", REPO / "zones"]
    return production_handler(
        folders, rng=SharedDraws(5), dns=dns, ecs=ecs, instance="test-1", **kw
    )


def wire_name(text: str) -> bytes:
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def names(h: Handler) -> list[bytes]:
    """Every name the table knows, and names near them: children, case changes, others."""
    known = [key[:-4] for shard in h.table.fast for key in shard]
    for zt in h.table.zones.values():
        known += list(zt.names)
    out = list(dict.fromkeys(known))
    out += [b"\x04nope" + n for n in known[:200]] + [b"\x01x\x04edge" + n for n in known[:50]]
    out += [wire_name(t) for t in ("example.org", "test", ".", "a.b.sub.example.test")]
    out += [wire_name("deep.ns.sub.example.test"), wire_name("x.y.z.geo.test")]
    return out


def flip_case(rng: random.Random, name: bytes) -> bytes:
    return bytes(c ^ 0x20 if 97 <= c <= 122 and rng.random() < 0.3 else c for c in name)


NETS = [b"\x51\x02\x45\x00", b"\x0c\x01\x00\x00", b"\x01\x80\x00\x00", b"\xb1\x00\x00\x00"]


def ecs_option(rng: random.Random) -> bytes:
    family = rng.choice([1, 1, 2, 2, 3])
    bits = 32 if family == 1 else 128
    source = rng.choice([0, 8, 16, 20, 24, 25, 32, 48, 56, 64, 128, 129])
    addr = bytearray(rng.randbytes(max(0, (min(source, 128) + 7) // 8)))
    if family == 1 and rng.random() < 0.6:  # networks the fixture database places
        addr = bytearray(rng.choice(NETS)[: len(addr)]) + addr[4:]
    if source % 8 and addr and rng.random() < 0.8:
        addr[-1] &= (0xFF << (8 - source % 8)) & 0xFF
    if rng.random() < 0.1:
        addr = addr[:-1]
    del bits
    body = struct.pack("!HBB", family, source, rng.choice([0, 0, 0, 5])) + bytes(addr)
    return struct.pack("!HH", 8, len(body)) + body


def options(rng: random.Random) -> bytes:
    out = b""
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        kind = rng.random()
        if kind < 0.4:
            out += ecs_option(rng)
        elif kind < 0.55:
            cookie = rng.randbytes(rng.choice([8, 8, 16, 24, 7, 41]))
            out += struct.pack("!HH", 10, len(cookie)) + cookie
        elif kind < 0.65:
            out += struct.pack("!HH", 3, 0)
        elif kind < 0.8:
            pad = rng.randrange(0, 40)
            out += struct.pack("!HH", 12, pad) + bytes(pad)
        elif kind < 0.95:
            data = rng.randbytes(rng.randrange(0, 8))
            out += struct.pack("!HH", rng.randrange(13, 65535), len(data)) + data
        else:
            out += rng.randbytes(rng.randrange(1, 4))  # a broken option
    return out


def questions(h: Handler) -> list[bytes]:
    """The exact questions (name, type, class) of the table's entries."""
    return [key for shard in h.table.fast for key in shard]


def query(rng: random.Random, pool: list[bytes], exact: list[bytes]) -> bytes:
    if rng.random() < 0.5:
        key = rng.choice(exact)
        name, qtype = key[:-4], struct.unpack("!H", key[-4:-2])[0]
    else:
        name = rng.choice(pool)
        qtype = rng.choice(TYPES) if rng.random() < 0.9 else rng.randrange(65536)
    if rng.random() < 0.3:
        name = flip_case(rng, name)
    qclass = 1 if rng.random() < 0.95 else rng.choice([3, 4, 255])
    flags = rng.choice([0x0000, 0x0100, 0x0110, 0x0120, 0x0130, 0x0010])
    if rng.random() < 0.1:
        flags = rng.randrange(65536)
    edns = rng.random() < 0.6
    head = struct.pack("!HHHHHH", rng.randrange(65536), flags, 1, 0, 0, 1 if edns else 0)
    msg = head + name + struct.pack("!HH", qtype, qclass)
    if edns:
        opts = options(rng)
        payload = rng.choice([0, 100, 512, 1232, 1400, 4096, 65535])
        ttl = (rng.choice([0, 0, 0, 0, 1]) << 16) | (0x8000 if rng.random() < 0.5 else 0)
        msg += b"\x00" + struct.pack("!HHIH", 41, payload, ttl, len(opts)) + opts
    return mutate(rng, msg) if rng.random() < 0.15 else msg


def mutate(rng: random.Random, msg: bytes) -> bytes:
    data = bytearray(msg)
    kind = rng.random()
    if kind < 0.4:
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind < 0.6:
        del data[rng.randrange(len(data)) :]
    elif kind < 0.8:
        data += rng.randbytes(rng.randrange(1, 6))
    else:
        data[rng.randrange(4, 12)] = rng.randrange(3)
    return bytes(data)


NOW = 1_800_000_000  # the wall clock both paths make server cookies at


def cookie_jar(h: Handler):
    """The handler's cookies moved onto the native table (as a native worker does), at a
    fixed clock; its capsule for the native side (None: cookies are off)."""
    if h.cookies is None:
        return None
    native_abuse.use_native_tables(h)
    h.cookies.clock = lambda: NOW
    return h.cookies.capsule()


def check(h: Handler, built: native.Built, dec, data: bytes, host: str, jar=None) -> int:
    """1 when the native side answered (and matched the reference, counters included),
    2 when that answer was a policy's, 0 when it handed the query over."""
    draws = h.answerer.rng  # the same draw on both sides (weighted names)
    draws.save()
    sync_rotations(h, built)
    got = built.table.answer(
        data, ipaddress.ip_address(host).packed, dec, jar, NOW, None, 0.0, draws.state
    )
    draws.restore()
    before, pools = dict(h.stats.queries), dict(h.stats.by_pool)
    ref = h.handle(data, host)
    if got is None:
        return 0
    reply, (zone, qtype, rcode), pool, _action = got
    assert reply == ref, (data.hex(), host)
    moved = {k: v - before.get(k, 0) for k, v in h.stats.queries.items() if v != before.get(k, 0)}
    label = qtype  # -1: a type outside wire.TYPE_TEXT ("other")
    assert moved == {(built.zones[zone], label, rcode, "udp"): 1}, data.hex()
    moved = {k: v - pools.get(k, 0) for k, v in h.stats.by_pool.items() if v != pools.get(k, 0)}
    assert moved == ({} if pool < 0 else {built.pool_key(pool >> 8, pool & 0xFF): 1}), (
        data.hex(),
        host,
    )
    return 2 if pool >= 0 or built.table.answer(data, bytes(4), None, jar, NOW) is None else 1


SETTINGS = [
    {},
    {"cookie_secret": b"k" * 16},
    {"max_udp_payload": 512, "nsid": True, "max_source": (20, 48)},
    {"max_udp_payload": 4096, "ecs_enabled": False},
]
HOSTS = ["198.51.100.7", "2001:db8::7", "81.2.69.1", "12.1.0.9", "1.128.0.1", "2a01:4f8::1"]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(s) or "defaults")
def test_native_replies_are_the_reference_bytes(settings: dict) -> None:
    h = handler(**settings)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, h.health)
    jar = cookie_jar(h)
    rng = random.Random(14)
    pool, exact = names(h), questions(h)
    answered = {0: 0, 1: 0, 2: 0}
    total = 25000
    for _ in range(total):
        answered[check(h, built, dec, query(rng, pool, exact), rng.choice(HOSTS), jar)] += 1
    # the native side answers a real share, policy names included, not nothing
    assert answered[1] + answered[2] > total // 5 and answered[2] > total // 50, answered


def test_random_packets_never_break_the_parser() -> None:
    h = handler()
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, h.health)
    rng = random.Random(7)
    for _ in range(50000):
        built.table.answer(rng.randbytes(rng.randrange(0, 80)), bytes(4), dec)


def test_known_answers() -> None:
    """Static, NXDOMAIN, wildcard-covered, below-a-cut and CNAME names, by hand."""
    h = handler()
    built = native.for_handler(h)
    cases = {
        ("static.example.test", 1): 0,
        ("STATIC.example.test", 28): 0,
        ("nothing.example.test", 1): 3,
        ("x.edge.example.test", 1): 0,  # a wildcard answers
        ("x.edge.example.test", 28): 0,  # NODATA at a wildcard
        ("real.edge.example.test", 1): 0,  # NODATA: the name holds TXT only
        ("static.example.test", 255): None,  # ANY: Python's
        ("alias.example.test", 99): None,  # a CNAME to follow for a type no entry holds
        ("a.sub.example.test", 1): 0,  # below a cut: a referral
        ("sub.example.test", 43): None,  # DS at the cut: Python's
        ("alias.example.test", 1): 0,  # a CNAME chain to static data
        ("alias2.example.test", 28): 0,
    }
    for (name, qtype), rcode in cases.items():
        data = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + wire_name(name)
        data += struct.pack("!HH", qtype, 1)
        got = built.table.answer(data)
        assert (None if got is None else got[1][2]) == rcode, name
        if got is not None:
            assert got[0] == h.handle(data, "192.0.2.1")


class Down(AllUp):
    """A health view with some members down (a HealthView, as the board's)."""

    def __init__(self, down: set, generation: int) -> None:
        self.down, self.generation = down, generation

    def is_up(self, member) -> bool:
        return member not in self.down

    def pool_generation(self, pool) -> int:
        return self.generation


DOWN = [
    {("geo.test.", "na", "192.0.2.20")},
    {("geo.test.", "na", "192.0.2.20"), ("geo.test.", "na", "2001:db8:a::20")},
    {("geo.test.", "eu", "192.0.2.10"), ("geo.test.", "na", "192.0.2.20")},
    {("gslb.example.com.", "eu-west", "192.0.2.10")},
]


@pytest.mark.parametrize("down", DOWN, ids=lambda d: str(len(d)))
def test_policy_answers_follow_health(down: set) -> None:
    """Decisions rebuilt under another health state still give the reference bytes: a
    failover moves, a pool loses a member, all down fails open (handed over) or NODATA."""
    h = handler(health=Down(down, 1))
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, h.health)
    rng = random.Random(3)
    exact = [k for k in questions(h) if h.table.fast_get(k).kind == table.POLICY]
    policy = 0
    for _ in range(4000):
        policy += check(h, built, dec, query(rng, exact, exact), rng.choice(HOSTS)) == 2
    assert policy > 400


@pytest.mark.skipif(not native_abuse.available(), reason="geodns._native not built")
@pytest.mark.parametrize("log_only", [False, True])
def test_rate_limited_replies_are_the_reference(log_only: bool) -> None:
    """A flood at one instant: the native side, on a table of its own, limits, slips
    (TC, or BADCOOKIE with a fresh cookie), drops and logs exactly as the Python handler
    does on another (same settings, same clock, same sequence), byte for byte."""
    now = 1000.0
    settings = {"window": 15.0, "slip": 2, "log_only": log_only, "clock": lambda: now}
    h = handler(cookie_secret=b"k" * 16, rrl=RateLimiter((5, 3, 3), **settings))
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, h.health)
    jar = cookie_jar(h)
    ours = native_abuse.NativeRateLimiter((5, 3, 3), **settings)
    rng = random.Random(5)
    cookie = struct.pack("!HH", 10, 8) + bytes(range(8))
    names = ["static.example.test", "www.geo.test", "nope.example.test", "ns1.example.test"]
    seen: dict = {}
    for _ in range(3000):
        data = struct.pack("!HHHHHH", rng.randrange(65536), 0x0100, 1, 0, 0, 1)
        data += wire_name(rng.choice(names)) + struct.pack("!HH", 1, 1)
        opts = cookie if rng.random() < 0.3 else b""
        data += b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(opts)) + opts
        host = rng.choice(HOSTS[:3])
        got = built.table.answer(
            data, ipaddress.ip_address(host).packed, dec, jar, NOW, ours.capsule(), now
        )
        ref = h.handle(data, host)
        if got is None:
            continue
        assert got[0] == ref, (data.hex(), host)
        seen[got[3]] = seen.get(got[3], 0) + 1
    assert seen.get(-1) and (seen.get(3) if log_only else seen.get(0) and seen.get(1)), seen
