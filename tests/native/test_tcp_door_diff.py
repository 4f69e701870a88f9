"""The native engine's TCP door (native/answer.py NativeAnswer) against the handler alone,
as a worker runs each with rate limiting and server cookies on their native tables: a
flood of TCP messages from IPv4, IPv6 and IPv4-mapped peers (a client cookie, the server
cookie each side gave, none) gets the same bytes on both, is never limited on either
(TCP's source is not spoofed), and counts the same cookie results and queries."""

from __future__ import annotations

import random
import struct
from collections import Counter

import pytest

from geodns.dns.identity import Identity
from geodns.dns.rrl import RateLimiter
from geodns.native import decisions as nativepolicy
from geodns.native import shared as native_abuse
from geodns.native import table as native
from geodns.native.answer import NativeAnswer
from tests.native import test_identity_diff as ident
from tests.native import test_kinds_diff as kinds

pytestmark = pytest.mark.skipif(not native_abuse.available(), reason="geodns._native not built")

TCP = 65535
HOSTS = ["192.0.2.7", "198.51.100.9", "2001:db8::7", "::ffff:192.0.2.9", "::ffff:198.51.100.9"]


def worker_handler():
    """A handler as a native worker holds it: RRL (1 a second: a flood is limited at once
    over UDP) and server cookies on native tables, NSID and CHAOS on, a fixed clock."""
    identity = Identity("ns1.test", "1.2", nsid=True, chaos=True, hide_version=False)
    h = ident.handler(identity, cookies=True, rrl=RateLimiter((1, 1, 1), clock=lambda: 1000.0))
    native_abuse.use_native_tables(h)  # the limiter too, as native/udp.py does
    h.handle = h._limited  # type: ignore[method-assign]
    return h


NAMES = ["big", "adeleg", "x.wild", "a.sub", "nx", "sticky", "stickyfence", "ns.sub", "wild"]


def query(rng: random.Random) -> bytes:
    """A generated question (no weighted draw nor rotation: the door keeps its own)."""
    if rng.random() < 0.3:
        name, qtype, qclass = rng.choice(ident.CHAOS[:-2]), rng.choice(ident.CH_TYPES), 3
    else:
        name, qtype, qclass = rng.choice(NAMES) + ".kinds.test", rng.choice(ident.IN_TYPES), 1
    data = struct.pack("!HHHHHH", rng.randrange(65536), 0x100, 1, 0, 0, 1)
    data += kinds.wire_name(name) + struct.pack("!HH", qtype, qclass)
    opts = ident.options(rng)
    opts = b"".join(o for o in [opts] if b"\x00\x0a" not in opts[:2])  # cookies: added below
    return data + b"\x00" + struct.pack("!HHIH", 41, rng.choice([512, 1232]), 0, len(opts)) + opts


def with_cookie(data: bytes, body: bytes) -> bytes:
    """The query with a COOKIE option added to its OPT (one added when it has none)."""
    option = struct.pack("!HH", 10, len(body)) + body
    at = data.index(b"\x00\x00\x29", 12)  # the OPT after the question
    size = struct.unpack_from("!H", data, at + 9)[0]
    return data[: at + 9] + struct.pack("!H", size + len(option)) + data[at + 11 :] + option


def test_tcp_door_is_the_handler_with_rrl_and_cookies() -> None:
    door_h, ref = worker_handler(), worker_handler()
    built = native.for_handler(door_h)
    door = NativeAnswer(built, door_h.handle, door_h.stats)
    door.decisions = nativepolicy.decisions(built, door_h.health)
    door.jar = door_h.cookies.capsule()
    door.clock = lambda: ident.NOW
    rng = random.Random(11)
    given: dict = {}  # the server cookie each side last gave a client
    seen: Counter = Counter()
    for _ in range(6000):
        data = query(rng)
        host = rng.choice(HOSTS)
        client = bytes([HOSTS.index(host)]) * 8
        if rng.random() < 0.5:
            back = given.get(host, b"") if rng.random() < 0.7 else b""  # ours given back
            data = with_cookie(data, client + back)
        got = door.handle(data, host, TCP, door_h.stats.tcp)
        want = ref.handle(data, host, TCP, ref.stats.tcp)
        assert got == want, (data.hex(), host)
        if got is not None and b"\x00\x0a\x00\x18" in got[12:]:
            given[host] = got[got.rindex(b"\x00\x0a\x00\x18") + 12 :][:16]
        seen["tc"] += bool(got and got[2] & 0x02)
        seen["answered"] += got is not None
    assert seen["answered"] == 6000 and seen["tc"] == 0, seen  # never limited, nor truncated
    door_counts = Counter(door_h.stats.cookies) + Counter(door_h.cookies.native_counts())
    assert door_counts == Counter(ref.stats.cookies) + Counter(ref.cookies.native_counts())
    assert +Counter(door_h.stats.queries) == +Counter(ref.stats.queries), "the same tcp counts"
    assert door_h.stats.rrl == ref.stats.rrl == dict.fromkeys(ref.stats.rrl, 0)
