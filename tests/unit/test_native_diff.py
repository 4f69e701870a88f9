"""The native fast path against the reference: for generated and mutated queries, every
reply geodns._fastnet makes is byte for byte what Handler.handle returns, and it is
counted under the labels the Python path counts it with. Called directly, no sockets."""

from __future__ import annotations

import random
import struct

import pytest

from geodns import table
from geodns.dns import native
from geodns.dns.handler import Handler
from geodns.dns.identity import Identity
from geodns.geo import locator as geoip
from geodns.geo.ecs import ClientFactory
from geodns.zones import load
from tests.servers import DATA, REPO

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._fastnet not built")

TYPES = [1, 2, 5, 6, 12, 15, 16, 28, 33, 43, 99, 255, 257, 41, 251, 252, 130, 65, 0, 65535]


def zones() -> list:
    return (
        load.load_dir(str(DATA / "zones" / "geo"))
        + load.load_dir(str(DATA / "zones" / "core"))
        + load.load_dir(str(REPO / "zones"))
    )


def handler(**kw) -> Handler:
    locator = geoip.Locator.open(str(DATA / "city-test.mmdb"), str(DATA / "asn-test.mmdb"))
    nsid = kw.pop("nsid", False)
    h = Handler(table.compile_table(zones()), ClientFactory(locator), **kw)
    h.identity = Identity("test-1", "1.0", nsid=nsid, chaos=True, hide_version=False)
    return h


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


def ecs_option(rng: random.Random) -> bytes:
    family = rng.choice([1, 1, 2, 2, 3])
    bits = 32 if family == 1 else 128
    source = rng.choice([0, 8, 16, 20, 24, 25, 32, 48, 56, 64, 128, 129])
    addr = bytearray(rng.randbytes(max(0, (min(source, 128) + 7) // 8)))
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


def check(h: Handler, built: native.Built, data: bytes, host: str) -> bool:
    """True when the native side answered (and matched the reference)."""
    got = built.table.answer(data)
    before = dict(h.stats.queries)
    ref = h.handle(data, host)
    if got is None:
        return False
    reply, (zone, qtype, rcode) = got
    assert reply == ref, data.hex()
    moved = {k: v - before.get(k, 0) for k, v in h.stats.queries.items() if v != before.get(k, 0)}
    label = -1 if qtype == 0x10000 else qtype
    assert moved == {(built.zones[zone], label, rcode, "udp"): 1}, data.hex()
    return True


SETTINGS = [
    {},
    {"cookie_secret": b"k" * 16},
    {"max_udp_payload": 512, "nsid": True},
    {"max_udp_payload": 4096, "ecs_enabled": False},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(s) or "defaults")
def test_native_replies_are_the_reference_bytes(settings: dict) -> None:
    h = handler(**settings)
    built = native.for_handler(h)
    rng = random.Random(14)
    pool, exact = names(h), questions(h)
    answered = 0
    total = 25000
    for i in range(total):
        host = "198.51.100.7" if i & 1 else "2001:db8::7"
        answered += check(h, built, query(rng, pool, exact), host)
    assert answered > total // 10  # the native side answers a real share, not nothing


def test_random_packets_never_break_the_parser() -> None:
    built = native.for_handler(handler())
    rng = random.Random(7)
    for _ in range(50000):
        built.table.answer(rng.randbytes(rng.randrange(0, 80)))


def test_known_answers() -> None:
    """Static, NXDOMAIN, wildcard-covered and below-a-cut names, by hand."""
    h = handler()
    built = native.for_handler(h)
    cases = {
        ("static.example.test", 1): 0,
        ("STATIC.example.test", 28): 0,
        ("nothing.example.test", 1): 3,
        ("x.edge.example.test", 1): None,  # a wildcard answers: Python's
        ("a.sub.example.test", 1): None,  # below a cut: a referral, Python's
        ("alias.example.test", 1): None,  # a CNAME chase: Python's
        ("www.geo.test", 1): None,  # a policy: Python's (until the compiled ranges)
    }
    for (name, qtype), rcode in cases.items():
        data = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + wire_name(name)
        data += struct.pack("!HH", qtype, 1)
        got = built.table.answer(data)
        assert (None if got is None else got[1][2]) == rcode, name
        if got is not None:
            assert got[0] == h.handle(data, "192.0.2.1")
