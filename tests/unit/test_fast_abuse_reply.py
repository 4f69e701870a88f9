"""The native helpers around an RRL verdict against the Python they mirror: the account a
reply counts in (handler._identity) and the slip sent instead (assemble.limited), on the
handler's real replies to many queries and on random mutations of them."""

from __future__ import annotations

import random

import dns.edns
import dns.message
import pytest

from geodns import wire as w
from geodns.dns import assemble
from tests.handlers import production_handler
from tests.servers import DATA

fast = pytest.importorskip("geodns._native", reason="the C extension is not built")

NAMES = [
    "static.example.test",
    "STATIC.Example.TEST",
    "www.geo.test",
    "nothere.geo.test",
    "big.example.test",
    "host.sub.example.test",
    "outside.invalid",
    "x" * 63 + ".example.test",
]
TYPES = ["A", "AAAA", "TXT", "HTTPS", "SOA", "ANY", "TYPE65"]


@pytest.fixture(scope="module")
def pairs() -> list[tuple[bytes, bytes]]:
    """(query, reply) from a real handler: answers, NXDOMAIN, referrals, REFUSED, FORMERR,
    with and without EDNS, DO, and a COOKIE."""
    h = production_handler(
        [DATA / "zones" / "geo", DATA / "zones" / "core"], cookie_secret=bytes(16)
    )
    out = []
    rnd = random.Random(1)
    for name in NAMES:
        for qtype in TYPES:
            for edns in (-1, 0):
                q = dns.message.make_query(name, qtype, use_edns=edns)
                if edns == 0:
                    opts = rnd.choice([[], [dns.edns.CookieOption(b"c" * 8, b"")]])
                    q.use_edns(0, rnd.choice([0, dns.flags.DO]), 1232, options=opts)
                data = q.to_wire()
                reply = h.handle(data, "192.0.2.7", 512)
                if reply is not None:
                    out.append((data, reply))
    return out


def question(reply: bytes) -> bytes:
    """handler._identity's name for an answer, as handler.py computes it."""
    end = w.question_end(reply) if reply[4:6] == b"\x00\x01" else -1
    return reply[12:end].lower() if end > 0 else b""


def kind(reply: bytes) -> int:
    rcode = reply[3] & 0xF
    return 0 if rcode == w.RCODE_NOERROR else 1 if rcode == w.RCODE_NXDOMAIN else 2


def mutated(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randrange(1, 4)):
        pick = rnd.randrange(4)
        if pick == 0 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif pick == 1:
            b = b[: rnd.randrange(12, len(b) + 1)]
        elif pick == 2 and len(b) > 12:
            at = rnd.randrange(12, len(b))
            b[at : at + 1] = bytes([rnd.choice([0, 0x41, 0xC0, 63, 64, 41])])
        else:
            b[4:12] = bytes(rnd.choice([0, 1, 255]) for _ in range(8))
    return bytes(b)


def test_the_account_of_every_real_reply_is_the_handlers(pairs) -> None:
    kinds = set()
    for _, reply in pairs:
        assert fast.rrl_kind(reply) == kind(reply)
        assert fast.rrl_question(reply) == question(reply)
        kinds.add(kind(reply))
    assert kinds == {0, 1, 2}


def test_the_account_of_mutated_replies_is_the_handlers(pairs) -> None:
    rnd = random.Random(7)
    for _ in range(30000):
        reply = mutated(rnd, rnd.choice(pairs)[1])
        if len(reply) < 12:
            continue
        assert fast.rrl_question(reply) == question(reply), reply.hex()
        assert fast.rrl_kind(reply) == kind(reply)


@pytest.mark.parametrize("payload", [512, 1232, 4096])
def test_slips_are_assemble_limited_s(pairs, payload: int) -> None:
    opts = assemble.Opts(payload)
    rnd = random.Random(payload)
    cookie = b"\x00\x0a\x00\x18" + b"c" * 8 + bytes(range(16))
    seen = set()
    for n in range(30000):
        data, reply = rnd.choice(pairs)
        if n % 2:
            data, reply = mutated(rnd, data), mutated(rnd, reply)
        ours = rnd.choice([b"", cookie])
        want = assemble.limited(data, reply, opts, ours)
        assert fast.slip(data, reply, payload, ours) == want, (data.hex(), reply.hex())
        seen.add((want[3] & 0xF, bool(want[2] & 0x02), want[11]))
    assert {(7, False, 1), (0, True, 1), (0, True, 0)} <= seen  # BADCOOKIE, TC+OPT, TC
