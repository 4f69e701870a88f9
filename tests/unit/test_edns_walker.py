"""The one EDNS option walker: options besides ECS (COOKIE, NSID, padding, unknown codes) are
answered by the native engine, byte for byte as the handler answers them; faults are
FORMERR on both paths."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator

import dns.edns
import dns.message
import dns.rcode
import pytest

from geodns import wire as w
from geodns.dns.handler import Handler
from geodns.dns.stats import QTYPE_OTHER
from geodns.geo import ecs
from geodns.geo.ecs import ClientFactory
from geodns.geo.locator import Locator
from geodns.native import decisions as nativepolicy
from geodns.native import shared as native_abuse
from geodns.native import table as native
from geodns.native.answer import NativeAnswer
from geodns.ops.metrics import GeoDNSCollector
from tests.handlers import production_handler
from tests.servers import DATA

HOST = "198.51.100.7"
TCP = 65535


def option(code: int, body: bytes) -> bytes:
    return struct.pack("!HH", code, len(body)) + body


def ecs_body(family: int, source: int, addr: bytes) -> bytes:
    return struct.pack("!HBB", family, source, 0) + addr


ECS = option(8, ecs_body(1, 24, bytes([81, 2, 69])))
COOKIE = option(10, bytes(range(8)) + bytes(range(100, 116)))  # client + server cookie
NSID = option(3, b"")
PADDING = option(12, bytes(11))
UNKNOWN = option(65001, b"xyz")
OTHERS = (COOKIE, NSID, PADDING, UNKNOWN)


def name(text: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in text.strip(".").split(".")) + b"\x00"


def query(qname: str, rdata: bytes | None, qtype: int = w.T_A, ttl: int = 0) -> bytes:
    """A query with one OPT whose RDATA is given as is (None: no OPT)."""
    head = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, int(rdata is not None))
    question = name(qname) + struct.pack("!HH", qtype, w.CLASS_IN)
    if rdata is None:
        return head + question
    return head + question + b"\x00" + struct.pack("!HHIH", 41, 1232, ttl, len(rdata)) + rdata


needs_native = pytest.mark.skipif(not native.available(), reason="geodns._native not built")


def handler(cookie_secret: bytes | None = None) -> Handler:
    folders = [DATA / "zones" / "geo", DATA / "zones" / "core"]
    return production_handler(folders, cookie_secret=cookie_secret, cookies={"enabled": False})


def fronted(handler_: Handler) -> Handler:
    """The handler with the native engine in front of it, as a worker serves: `handle` is
    the native answer, `slow_calls` counts the queries it hands to the handler."""
    handler_.slow_calls = 0  # type: ignore[attr-defined]
    if not native.available():
        return handler_
    built = native.for_handler(handler_)
    behind = handler_.handle

    def fallback(*args, **kwargs):
        handler_.slow_calls += 1  # type: ignore[attr-defined]
        return behind(*args, **kwargs)

    front = NativeAnswer(built, fallback, handler_.stats)
    front.decisions = nativepolicy.decisions(built, handler_.health)
    if handler_.cookies is not None and native_abuse.available():
        native_abuse.use_native_tables(handler_)
        front.jar = handler_.cookies.capsule()
    handler_.handle = front.handle  # type: ignore[method-assign]
    return handler_


@pytest.fixture
def h() -> Iterator[Handler]:
    """A handler behind the native engine; slow_calls says what reached the handler."""
    yield fronted(handler())


def both_paths(h: Handler, data: bytes, max_size: int = 512) -> tuple[bytes | None, int]:
    """The handler's reply, how many queries reached the slow path, and proof that the slow
    path alone gives the very same bytes."""
    before = h.slow_calls  # type: ignore[attr-defined]
    reply = h.handle(data, HOST, max_size)
    slow_calls = h.slow_calls - before  # type: ignore[attr-defined]
    assert reply == Handler.slow(h, data, HOST, max_size), data.hex()
    return reply, slow_calls


# --- the walker itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rdata", "found"),
    [
        (b"", None),
        (COOKIE, None),
        (COOKIE + NSID + PADDING + UNKNOWN, None),
        (ECS, ECS[4:]),
        (COOKIE + ECS, ECS[4:]),
        (ECS + COOKIE + NSID, ECS[4:]),
        (NSID + PADDING + ECS + UNKNOWN, ECS[4:]),
        (option(8, b""), b""),  # structure only: geo/ecs.py judges the body
    ],
)
def test_walker_finds_the_ecs_body_among_any_options(rdata: bytes, found: bytes | None) -> None:
    packet = b"\xaa" * 5 + rdata
    assert w.find_ecs(packet, 5, len(packet)) == found
    cookie = COOKIE[4:] if COOKIE in rdata else None
    assert w.find_options(packet, 5, len(packet)) == (found, cookie, NSID in rdata)


def test_walker_takes_the_first_cookie_and_leaves_judging_it_to_cookies() -> None:
    short = option(10, b"12345")
    rdata = NSID + short + COOKIE + ECS
    assert w.find_options(rdata, 0, len(rdata)) == (ECS[4:], b"12345", True)


@pytest.mark.parametrize(
    "rdata",
    [
        b"\x00",  # 1-3 bytes: an option header cut short
        b"\x00\x08\x00",
        COOKIE + b"\x00\x0a",
        option(10, b"abc")[:-1],  # a body past the RDATA
        ECS[:-1],
        ECS + COOKIE + ECS,  # two ECS options
    ],
)
def test_walker_rejects_a_broken_rdata(rdata: bytes) -> None:
    packet = rdata + b"trailing bytes are not the walker's"
    with pytest.raises(w.FormErr):
        w.find_ecs(packet, 0, len(rdata))


def test_ecs_rules_live_in_geo_ecs() -> None:
    body = ecs_body(1, 24, bytes([81, 2, 69]))
    assert ecs.valid(body) and not ecs.valid(ecs_body(3, 24, bytes(3)))
    assert not ecs.valid(ecs_body(1, 23, bytes([81, 2, 69])))  # bits past the prefix
    assert ecs.scope(16, 24) == 16 and ecs.scope(32, 24) == 24 and ecs.scope(20, 0) == 0
    assert ecs.echo(body, 30, 24) == struct.pack("!HHH", 11, 8, 7) + body[:3] + b"\x18" + body[4:]
    clients = ClientFactory(Locator(None, None), max_source_v4=20)
    assert clients.source(body) == 20 and clients.source(ecs_body(1, 0, b"")) == 0


# --- the handler: fast path, byte for byte the slow path's --------------------------------

NAMES = [
    ("static.example.test", w.T_A),  # static records
    ("static.example.test", w.T_AAAA),
    ("www.geo.test", w.T_A),  # a geo policy: decided by the ECS option
    ("www.geo.test", w.T_AAAA),
    ("sticky.geo.test", w.T_A),
    ("nothere.geo.test", w.T_A),  # NXDOMAIN
    ("nothing.example.test", w.T_MX),
]


@pytest.mark.parametrize(("qname", "qtype"), NAMES)
@pytest.mark.parametrize("max_size", [512, TCP])
@needs_native
def test_every_option_rides_the_native_engine(
    h: Handler, qname: str, qtype: int, max_size: int
) -> None:
    plain = both_paths(h, query(qname, ECS, qtype), max_size)[0]
    assert plain is not None
    for n in range(1, len(OTHERS) + 1):
        for others in itertools.permutations(OTHERS, n):
            for at in range(len(others) + 1):  # ECS first, between, last
                rdata = b"".join(others[:at]) + ECS + b"".join(others[at:])
                reply, slow_calls = both_paths(h, query(qname, rdata, qtype), max_size)
                assert slow_calls == 0, (qname, rdata.hex())
                assert reply == plain, "other options never change the answer"
    reply, slow_calls = both_paths(h, query(qname, COOKIE + NSID, qtype), max_size)
    assert slow_calls == 0 and reply is not None


@needs_native
def test_the_reply_carries_only_the_ecs_echo(h: Handler) -> None:
    data = query("www.geo.test", COOKIE + NSID + ECS + PADDING + UNKNOWN)
    for _ in range(20):
        reply, slow_calls = both_paths(h, data)
        assert slow_calls == 0
        msg = dns.message.from_wire(reply)
        assert [type(o) for o in msg.options] == [dns.edns.ECSOption]
        assert msg.options[0].srclen == 24 and 0 < msg.options[0].scopelen <= 24
        assert {rd.address for rrset in msg.answer for rd in rrset} == {"192.0.2.40"}
    plain = dns.message.from_wire(both_paths(h, query("www.geo.test", COOKIE + NSID))[0])
    assert not plain.options and plain.edns == 0


@pytest.mark.parametrize(
    ("rdata", "rcode", "with_opt"),
    [
        (COOKIE + option(8, ecs_body(3, 24, bytes(3))), dns.rcode.FORMERR, True),  # bad family
        (option(8, ecs_body(1, 23, bytes([81, 2, 69]))) + NSID, dns.rcode.FORMERR, True),
        (option(8, b"\x00\x01"), dns.rcode.FORMERR, True),  # shorter than 4 octets
        (ECS + COOKIE + ECS, dns.rcode.FORMERR, True),  # two ECS options
        (COOKIE + b"\x00\x0a\x00", dns.rcode.FORMERR, True),  # a truncated option header
        (COOKIE + option(10, b"abcd")[:-2], dns.rcode.FORMERR, True),  # a truncated body
    ],
)
@pytest.mark.parametrize("qname", ["static.example.test", "www.geo.test", "nothere.geo.test"])
def test_faults_are_formerr_on_both_paths(
    h: Handler, qname: str, rdata: bytes, rcode: int, with_opt: bool
) -> None:
    reply = both_paths(h, query(qname, rdata))[0]
    assert reply is not None
    flags = struct.unpack_from("!H", reply, 2)[0]
    assert flags & 0xF == rcode
    assert struct.unpack_from("!H", reply, 10)[0] == int(with_opt)  # ARCOUNT: our OPT


@pytest.mark.parametrize("qname", ["static.example.test", "www.geo.test", "nothere.geo.test"])
def test_two_opt_records_and_badvers_on_both_paths(h: Handler, qname: str) -> None:
    one = query(qname, COOKIE + ECS)
    two = bytearray(one + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0))
    two[11] = 2  # ARCOUNT 2
    reply = both_paths(h, bytes(two))[0]
    assert dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR
    badvers = both_paths(h, query(qname, COOKIE + ECS, ttl=1 << 16))[0]  # EDNS version 1
    assert dns.message.from_wire(badvers).rcode() == dns.rcode.BADVERS


def test_counted_per_transport_and_unknown_qtypes_as_other() -> None:
    h = handler()
    h.handle(query("static.example.test", COOKIE + ECS), HOST, TCP, h.stats.tcp)
    h.handle(query("static.example.test", None), HOST, 512, h.stats.udp)
    h.handle(query("nothere.geo.test", COOKIE, qtype=65280), HOST)  # fast NXDOMAIN
    h.handle(query("static.example.test", ECS, qtype=65281), HOST)  # slow NODATA
    queries = h.stats.queries
    assert queries[("example.test.", w.T_A, 0, "tcp")] == 1
    assert queries[("example.test.", w.T_A, 0, "udp")] == 1
    assert queries[("geo.test.", QTYPE_OTHER, 3, "udp")] == 1
    assert queries[("example.test.", QTYPE_OTHER, 0, "udp")] == 1
    samples = next(iter(GeoDNSCollector._dns(h.stats))).samples
    labels = {tuple(s.labels[k] for k in ("zone", "qtype", "transport")) for s in samples}
    assert ("geo.test.", "other", "udp") in labels and ("example.test.", "A", "tcp") in labels
    assert {s.labels["qtype"] for s in samples} <= {"A", "other"}


# --- with DNS COOKIE answered: still native, still byte for byte the handler's ------------

SECRET = bytes(range(16))
CLIENT = bytes.fromhex("5ca1ab1e0ddba11c")


def cookie_handler() -> Handler:
    """A handler that answers COOKIE, behind the native engine as in the `h` fixture."""
    return fronted(handler(cookie_secret=SECRET))


def cookie_of(reply: bytes) -> bytes:
    msg = dns.message.from_wire(reply)
    found = [o for o in msg.options if o.otype == dns.edns.OptionType.COOKIE]
    assert len(found) == 1, msg.options
    return found[0].client + found[0].server


@pytest.mark.parametrize(("qname", "qtype"), NAMES)
@pytest.mark.parametrize("max_size", [512, TCP])
@needs_native
def test_cookies_ride_the_native_engine_byte_for_byte(
    qname: str, qtype: int, max_size: int
) -> None:
    h = cookie_handler()
    first, slow_calls = both_paths(h, query(qname, option(10, CLIENT), qtype), max_size)
    assert slow_calls == 0
    ours = cookie_of(first)
    assert ours[:8] == CLIENT and len(ours) == 24
    good, bad = option(10, ours), option(10, CLIENT + bytes(16))
    for cookie in (option(10, CLIENT), good, bad):
        for others in [(), (ECS,), (NSID, ECS, PADDING), (UNKNOWN, PADDING, NSID)]:
            for at in range(len(others) + 1):
                rdata = b"".join(others[:at]) + cookie + b"".join(others[at:])
                reply, slow_calls = both_paths(h, query(qname, rdata, qtype), max_size)
                assert slow_calls == 0, (qname, rdata.hex())
                assert cookie_of(reply) == ours, "one server cookie per client for 30 minutes"
                without = Handler.slow(h, query(qname, rdata.replace(cookie, b""), qtype), HOST)
                assert reply[:10] == without[:10], "the cookie changes nothing but our OPT"
    counts = h.stats.cookies
    assert counts["new"] and counts["valid"] and counts["invalid"] and not counts["malformed"]


@pytest.mark.parametrize("qname", ["static.example.test", "www.geo.test", "nothere.geo.test"])
@pytest.mark.parametrize("body", [b"12345", CLIENT[:7], CLIENT + b"1234567", CLIENT + bytes(33)])
def test_a_malformed_cookie_is_formerr_on_both_paths(qname: str, body: bytes) -> None:
    h = cookie_handler()
    for rdata in (option(10, body), ECS + option(10, body)):
        reply = both_paths(h, query(qname, rdata))[0]
        assert reply is not None
        assert dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR
    assert h.stats.cookies["malformed"] == 4  # both paths, twice


@needs_native
def test_cookies_off_ignores_them_as_a_server_without_cookies_does(h: Handler) -> None:
    for body in (CLIENT, b"12345"):
        reply, slow_calls = both_paths(h, query("www.geo.test", option(10, body) + ECS))
        assert slow_calls == 0 and dns.message.from_wire(reply).rcode() == dns.rcode.NOERROR
        assert [o.otype for o in dns.message.from_wire(reply).options] == [8]
