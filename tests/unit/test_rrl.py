"""Response rate limiting: BIND's accounts (rate, window, slip) on an injected clock, the
fixed-size table under random sources, and the handler applying it on every UDP path."""

from __future__ import annotations

import random
import struct
import tracemalloc

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from geodns import table
from geodns.dns import rrl
from geodns.dns.handler import Handler
from geodns.dns.rrl import ANSWER, DROP, ERROR, LOG_ONLY, NXDOMAIN, OK, SLIP, RateLimiter
from geodns.geo.ecs import ClientFactory
from geodns.geo.locator import Locator
from geodns.zones import load
from tests.handlers import production_handler
from tests.servers import DATA

NAME = b"\x03www\x03geo\x04test\x00\x00\x01\x00\x01"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, rate: int = 10, **kw) -> RateLimiter:
    return RateLimiter((rate, kw.pop("nx", rate), kw.pop("err", rate)), clock=clock, **kw)


def burst(lim: RateLimiter, clock: Clock, n: int, secs: float, host: str = "192.0.2.7") -> dict:
    seen = {OK: 0, SLIP: 0, DROP: 0, LOG_ONLY: 0}
    for i in range(n):
        clock.now = 1000.0 + secs * i / n
        seen[lim.verdict(host, ANSWER, NAME)] += 1
    return seen


def test_a_burst_gets_rate_answers_a_second_and_every_other_limited_one_slips() -> None:
    clock = Clock()
    lim = limiter(clock, rate=10, slip=2)
    seen = burst(lim, clock, 1000, 1.0)
    assert 10 <= seen[OK] <= 21  # a second's credit to start, then 10 a second
    assert seen[SLIP] == pytest.approx(seen[DROP], abs=1)
    assert lim.verdict("192.0.3.7", ANSWER, NAME) == OK, "another /24 has its own account"
    assert lim.verdict("192.0.2.200", ANSWER, NAME) != OK, "the same /24 shares it"
    assert lim.verdict("192.0.2.7", ANSWER, NAME[:-4] + b"\x00\x1c\x00\x01") == OK, "AAAA"
    assert lim.verdict("192.0.2.7", NXDOMAIN, b"\x03geo\x04test\x00") == OK


def test_a_flood_must_stop_for_about_the_window_before_it_is_answered() -> None:
    clock = Clock()
    lim = limiter(clock, rate=10, slip=0, window=15.0)
    assert burst(lim, clock, 2000, 2.0)[DROP] > 1900
    clock.now += 14.0
    assert lim.verdict("192.0.2.7", ANSWER, NAME) == DROP
    clock.now += 2.0
    assert lim.verdict("192.0.2.7", ANSWER, NAME) == OK


def test_nxdomain_and_errors_have_their_own_rates_and_0_means_unlimited() -> None:
    clock = Clock()
    lim = limiter(clock, rate=1000, nx=2, err=0)
    zone = b"\x03geo\x04test\x00"
    got = [lim.verdict("192.0.2.7", NXDOMAIN, zone) for _ in range(10)]
    assert got[:2] == [OK, OK] and OK not in got[2:]
    assert all(lim.verdict("192.0.2.7", ERROR, zone) == OK for _ in range(100))


def test_exempt_networks_and_log_only_answer_everything() -> None:
    clock = Clock()
    lim = limiter(clock, rate=1, exempt=["192.0.2.0/25", "2001:db8::/32"])
    assert burst(lim, clock, 100, 0.1)[OK] == 100
    assert burst(lim, clock, 100, 0.1, host="2001:db8::1")[OK] == 100
    assert burst(lim, clock, 100, 0.1, host="192.0.2.200")[OK] < 5
    quiet = limiter(clock, rate=1, log_only=True)
    seen = burst(quiet, clock, 100, 0.1)
    assert seen[OK] + seen[LOG_ONLY] == 100 and seen[LOG_ONLY] > 90


def test_networks_are_cut_at_the_configured_prefixes() -> None:
    lim = limiter(Clock(), ipv4_prefix=16, ipv6_prefix=48)
    assert lim.network("10.1.2.3") == lim.network("10.1.200.9") != lim.network("10.2.0.1")
    assert lim.network("2001:db8:1:2::1") == lim.network("2001:db8:1:ffff::9")
    assert lim.network("::ffff:10.1.2.3") == lim.network("10.1.9.9"), "v4-mapped is IPv4"


def test_the_table_stays_its_size_under_random_sources() -> None:
    """200,000 spoofed sources: the accounts are the same 3.5 MiB of arrays throughout."""
    clock = Clock()
    lim = limiter(clock, rate=5, size=rrl.TABLE_SIZE)
    assert lim.table_bytes() == 28 * rrl.TABLE_SIZE == 3_670_016
    rng = random.Random(7)
    # only what rrl.py allocates: threads other tests left running allocate meanwhile
    only = [tracemalloc.Filter(True, rrl.__file__)]
    tracemalloc.start()
    before = tracemalloc.take_snapshot().filter_traces(only)
    for _ in range(200_000):
        host = ".".join(str(rng.randrange(256)) for _ in range(4))
        lim.verdict(host, ANSWER, NAME)
    after = tracemalloc.take_snapshot().filter_traces(only)
    tracemalloc.stop()
    grown = sum(s.size for s in after.statistics("filename")) - sum(
        s.size for s in before.statistics("filename")
    )
    assert grown < 64 * 1024, f"the limiter grew by {grown} bytes"
    assert lim.table_bytes() == 28 * rrl.TABLE_SIZE
    assert all(len(a) == rrl.TABLE_SIZE for a in (lim.hashes, lim.credit, lim.stamps))


# --- the handler: after the answer, on UDP only, never for a valid server cookie ----------


def handler(clock: Clock, secret: bytes | None = bytes(16), **kw) -> Handler:
    folders = [DATA / "zones" / "geo", DATA / "zones" / "core"]
    lim = limiter(clock, **kw)  # a clock of the test's own
    return production_handler(folders, cookie_secret=secret, cookies={"enabled": False}, rrl=lim)


def ask(h: Handler, name: str, size: int = 512, options=(), host: str = "192.0.2.7"):
    q = dns.message.make_query(name, "A", use_edns=0 if options else -1, options=list(options))
    reply = h.handle(q.to_wire(), host, size)
    return None if reply is None else dns.message.from_wire(reply)


@pytest.mark.parametrize("name", ["static.example.test", "www.geo.test", "nothere.geo.test"])
def test_udp_is_limited_on_every_path_tcp_never(name: str) -> None:
    clock = Clock()
    h = handler(clock, rate=5, slip=2)
    replies = [ask(h, name) for _ in range(100)]
    full = [r for r in replies if r is not None and not r.flags & dns.flags.TC]
    slipped = [r for r in replies if r is not None and r.flags & dns.flags.TC]
    assert len(full) == 5 and len(slipped) == 47
    assert all(not r.answer and not r.authority for r in slipped)
    assert h.stats.rrl["slip"] == 47 and h.stats.rrl["drop"] == 48
    assert all(not ask(h, name, 65535).flags & dns.flags.TC for _ in range(50))
    assert not ask(h, name, host="192.0.3.7").flags & dns.flags.TC


def test_a_valid_server_cookie_is_never_limited_a_client_cookie_gets_badcookie() -> None:
    clock = Clock()
    h = handler(clock, rate=2, slip=1)
    client = dns.edns.CookieOption(bytes(range(8)), b"")
    first = ask(h, "www.geo.test", options=[client])
    server = next(o for o in first.options if o.otype == dns.edns.OptionType.COOKIE).server
    valid = dns.edns.CookieOption(bytes(range(8)), server)
    assert all(ask(h, "www.geo.test", options=[valid]).answer for _ in range(200))
    limited = [ask(h, "www.geo.test", options=[client]) for _ in range(10)]
    bad = [r for r in limited if r.rcode() == dns.rcode.BADCOOKIE]
    assert len(bad) >= 8 and h.stats.rrl["badcookie"] == len(bad)
    cookie = next(o for o in bad[0].options if o.otype == dns.edns.OptionType.COOKIE)
    assert cookie.client == bytes(range(8)) and cookie.server == server
    assert not bad[0].answer and not bad[0].flags & dns.flags.TC


def test_rrl_off_is_not_even_a_branch_per_query() -> None:
    zones = load.load_dir(str(DATA / "zones" / "core"))
    h = Handler(table.compile_table(zones), ClientFactory(Locator(None, None)))
    assert h.handle.__func__ is Handler.handle  # type: ignore[attr-defined]
    data = (
        struct.pack("!6H", 1, 0x100, 1, 0, 0, 0)
        + b"\x06static\x07example\x04test\x00\x00\x01\x00\x01"
    )
    assert all(h.handle(data, "192.0.2.7") is not None for _ in range(100))
