"""EDNS options besides ECS (COOKIE, NSID, padding, unknown codes) over real UDP and TCP: the
same answer and ECS scope as without them, only the ECS echo (and our COOKIE, for a query
with one) in our OPT, and (in process) answered by the native engine."""

from __future__ import annotations

from collections.abc import Iterator

import dns.edns
import dns.message
import dns.rcode
import pytest

from geodns.native import decisions as nativepolicy
from geodns.native import shared as native_abuse
from geodns.native import table as native
from geodns.native.answer import NativeAnswer
from tests.conftest import HAS_IPV6
from tests.servers import DATA, ServerThread, write_config

# Who answers matters here: `make test` runs these again with two workers and on the
# Python fast path (-m workers, -m fast_path).
pytestmark = [pytest.mark.workers, pytest.mark.fast_path]

CITY, ASN = DATA / "city-test.mmdb", DATA / "asn-test.mmdb"
COOKIE = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, bytes(range(8)) + bytes(16))
NSID = dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")
PADDING = dns.edns.GenericOption(dns.edns.OptionType.PADDING, bytes(9))
UNKNOWN = dns.edns.GenericOption(65001, b"geo")
TRANSPORTS = ["udp4", "tcp4", "udp6", "tcp6"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("edns")
    listen = ["127.0.0.1:0", "[::1]:0"] if HAS_IPV6 else ["127.0.0.1:0"]
    zones = DATA / "zones" / "geo"
    conf = write_config(
        tmp, zones, dns={"listen": listen}, geoip={"city": str(CITY), "asn": str(ASN)}
    )
    running = ServerThread(conf).start()
    yield running
    running.stop()


def make(name: str, ecs: str | None, *others: dns.edns.Option) -> dns.message.Message:
    options = [*others[:1], *([dns.edns.ECSOption.from_text(ecs)] if ecs else []), *others[1:]]
    return dns.message.make_query(name, "A", use_edns=0, options=options)


def send(server: ServerThread, kind: str, q: dns.message.Message) -> dns.message.Message:
    family = 6 if kind.endswith("6") else 4
    return server.tcp(q, family) if kind.startswith("tcp") else server.udp(q, family)


def seen(reply: dns.message.Message) -> tuple:
    """What must not change with other options: our COOKIE (dns/cookies.py) aside."""
    answers = sorted(rd.to_text() for rrset in reply.answer for rd in rrset)
    ecs = [(o.srclen, o.scopelen) for o in reply.options if isinstance(o, dns.edns.ECSOption)]
    options = [o for o in reply.options if o.otype != dns.edns.OptionType.COOKIE]
    return reply.rcode(), answers, ecs, len(options), len(reply.authority)


CASES = [
    ("www.geo.test.", "81.2.69.0/24"),  # geo: gb, scope from the network
    ("www.geo.test.", "12.1.0.0/24"),
    ("www.geo.test.", "2001:db8:100::/48"),
    ("www.geo.test.", None),
    ("nothere.geo.test.", "81.2.69.0/24"),  # NXDOMAIN
]


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize(("name", "ecs"), CASES)
def test_other_options_change_nothing(server: ServerThread, kind: str, name: str, ecs) -> None:
    if kind.endswith("6") and not HAS_IPV6:
        pytest.skip("no IPv6 loopback")
    want = seen(send(server, kind, make(name, ecs)))
    for others in [(COOKIE,), (COOKIE, NSID, PADDING, UNKNOWN), (UNKNOWN, PADDING, COOKIE)]:
        reply = send(server, kind, make(name, ecs, *others))
        assert seen(reply) == want
        cookies = [o for o in reply.options if o.otype == dns.edns.OptionType.COOKIE]
        assert len(cookies) == 1 and cookies[0].client == bytes(range(8))
    assert want[3] == (1 if ecs else 0), "our OPT echoes ECS and nothing else"


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_malformed_ecs_beside_a_cookie_is_formerr(server: ServerThread, kind: str) -> None:
    if kind.endswith("6") and not HAS_IPV6:
        pytest.skip("no IPv6 loopback")
    bad = dns.edns.GenericOption(dns.edns.OptionType.ECS, b"\x00\x03\x18\x00\x01\x02\x03")
    reply = send(server, kind, make("www.geo.test.", None, COOKIE, bad))
    assert reply.rcode() == dns.rcode.FORMERR


@pytest.mark.skipif(not native.available(), reason="geodns._native not built")
def test_in_process_the_native_engine_answers_them(server: ServerThread) -> None:
    """The server's handler behind the native engine (as its workers serve UDP and TCP):
    none of these queries reaches the handler, and each reply is the handler's."""
    handler = server.app.handler
    calls = []

    def slow(*args, **kwargs):
        calls.append(args)
        return handler.handle(*args, **kwargs)

    def front() -> NativeAnswer:
        built = native.for_handler(handler)
        engine = NativeAnswer(built, slow, handler.stats)
        engine.decisions = nativepolicy.decisions(built, handler.health)
        if handler.cookies is not None and native_abuse.available():  # as a worker does
            native_abuse.use_native_tables(handler)
            engine.jar = handler.cookies.capsule()
        return engine

    engine = server.call(front)
    for name, ecs in CASES:
        data = make(name, ecs, COOKIE, NSID, PADDING, UNKNOWN).to_wire()
        for max_size, count in ((512, handler.stats.udp), (65535, handler.stats.tcp)):
            reply = server.call(
                lambda d=data, m=max_size, c=count: engine.handle(d, "127.0.0.1", m, c)
            )
            assert not calls, (name, ecs)
            reference = server.call(
                lambda d=data, m=max_size, c=count: type(handler).slow(
                    handler, d, "127.0.0.1", m, c
                )
            )
            assert reply == reference, (name, ecs, max_size)
