"""The native cookie and RRL code (geodns._native) against the Python modules it mirrors,
dns/cookies.py and dns/rrl.py, on many random inputs: the same bytes, results, expiry and
verdicts; SipHash against the paper's vectors and the siphashc package."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter

import pytest
from siphashc import siphash

from geodns.dns import cookies
from geodns.dns.cache import Memos
from geodns.dns.rrl import ANSWER, DROP, ERROR, LOG_ONLY, NXDOMAIN, OK, SLIP, RateLimiter
from geodns.model import AllUp
from tests.unit.test_cookies import RFC9018, SIPHASH_VECTORS

fast = pytest.importorskip("geodns._native", reason="the C extension is not built")


@pytest.mark.parametrize(("n", "want"), SIPHASH_VECTORS.items())
def test_siphash_matches_the_reference_vectors(n: int, want: str) -> None:
    assert fast.siphash(bytes(range(16)), bytes(range(n))).to_bytes(8, "little").hex() == want


def test_siphash_matches_siphashc_on_random_keys_and_lengths() -> None:
    rnd = random.Random(14)
    for n in list(range(80)) * 20 + [rnd.randrange(80, 2000) for _ in range(200)]:
        key, data = rnd.randbytes(16), rnd.randbytes(n)
        assert fast.siphash(key, data) == siphash(key, data), (key.hex(), data.hex())


@pytest.mark.parametrize(("secret", "client", "host", "ts", "want"), RFC9018)
def test_server_cookies_match_rfc_9018(secret: str, client: str, host: str, ts: int, want: str):
    address = cookies.packed_address(host)
    made = fast.server_cookie(bytes.fromhex(secret), bytes.fromhex(client), address, ts)
    assert made.hex() == want


def test_age_and_well_formed_agree_with_python() -> None:
    rnd = random.Random(7)
    for _ in range(20000):
        ts, now = rnd.randrange(1 << 32), rnd.choice([rnd.randrange(1 << 33), 1 << 32, 0])
        assert fast.age(ts, now) == cookies.age(ts, now)
    for n in range(64):
        assert fast.well_formed(bytes(n)) == cookies.well_formed(bytes(n))


class Twin:
    """ServerCookies and the native Cookies on one clock, asked the same questions."""

    def __init__(self, secret: bytes) -> None:
        self.now = 1_700_000_000
        self.counts: Counter[str] = Counter()
        self.py = cookies.ServerCookies(
            secret, Memos(AllUp(), limit=1 << 30), self.counts, lambda: self.now
        )
        self.c = fast.Cookies(secret, 1 << 22)  # so big that 64 clients never share a slot

    def answer(self, body: bytes, host: str) -> tuple[int, bytes, int]:
        option = self.py.option(body, host)
        result, native, expires = self.c.answer(body, cookies.packed_address(host), self.now)
        assert native == option, (body.hex(), host, self.now)
        assert ("new", "valid", "invalid")[result] == self.py.result
        assert expires == self.py.expires
        by_host = self.c.answer(body, host, self.now, counted=False)  # parsed in C
        assert by_host == (result, native, expires)
        return result, option, expires


def presented(rnd: random.Random, twin: Twin, client: bytes, host: str, given: dict) -> bytes:
    """A COOKIE body a client might send: alone, with what we gave it (maybe long ago),
    with one for another address or secret, or bytes of every length the RFC allows."""
    pick = rnd.randrange(8)
    address = cookies.packed_address(host)
    if pick == 0:
        return client
    if pick in (1, 2) and (client, host) in given:
        return client + given[client, host]
    if pick == 3:  # made by us at some other time, maybe out of the window or ahead
        ts = (twin.now + rnd.randrange(-8000, 1000)) & 0xFFFFFFFF
        return client + cookies.server_cookie(twin.py.secret, client, address, ts)
    if pick == 4:  # another address's, or another secret's
        other = cookies.packed_address("2001:db8::1" if len(address) == 4 else "192.0.2.1")
        return client + cookies.server_cookie(twin.py.secret, client, other, twin.now)
    if pick == 5:  # reserved bytes or version changed: the hash or the version fails
        good = bytearray(cookies.server_cookie(twin.py.secret, client, address, twin.now))
        good[rnd.randrange(4)] ^= 1 << rnd.randrange(8)
        return client + bytes(good)
    return client + rnd.randbytes(rnd.choice([8, 16, 16, 24, 32]))


def test_cookies_agree_with_server_cookies_on_random_clients_times_and_bodies() -> None:
    rnd = random.Random(9018)
    twin = Twin(rnd.randbytes(16))
    hosts = ["192.0.2.1", "198.51.100.7", "2001:db8::53", "::ffff:192.0.2.1", "fe80::1"]
    clients = [rnd.randbytes(8) for _ in range(12)]
    given: dict[tuple[bytes, str], bytes] = {}
    for _ in range(20000):
        twin.now += rnd.choice([0, 0, 1, 7, 300, 1799, 1800, 3600])
        client, host = rnd.choice(clients), rnd.choice(hosts)
        body = presented(rnd, twin, client, host, given)
        if not cookies.well_formed(body):
            continue
        _, option, _ = twin.answer(body, host)
        given[client, host] = option[12:]
    native = twin.c.counts()
    assert {k: native[k] for k in ("new", "valid", "invalid")} == dict(twin.counts)
    assert min(twin.counts.values()) > 1000, twin.counts  # every result was exercised


def test_a_body_not_well_formed_is_left_to_the_caller_and_not_counted() -> None:
    c = fast.Cookies(bytes(16))
    for n in (0, 1, 7, 9, 15, 41, 64):
        assert c.answer(bytes(n), bytes(4), 1000)[0] == -1
    assert sum(c.counts().values()) == 0


def test_clients_sharing_one_memo_slot_still_get_valid_cookies() -> None:
    """With one slot every client takes it over: fresh cookies, each valid for its client."""
    secret = bytes(range(16))
    c = fast.Cookies(secret, 1)
    a, b = (b"A" * 8, bytes(4)), (b"B" * 8, bytes(16))
    for now in range(5000, 5010):
        for client, address in (a, b):
            result, option, expires = c.answer(client, address, now)
            assert (result, expires) == (0, now + cookies.FRESH_FOR)
            assert fast.valid(secret, option[4:], address, now)
            assert cookies.ServerCookies.valid(
                cookies.ServerCookies(secret, Memos(AllUp()), Counter()),
                option[4:],
                str(ipaddress.ip_address(address)),
                now,
            )


# ---- RRL ----------------------------------------------------------------------------

SIZE = 1 << 20  # both tables: big enough that the accounts below can be kept apart
ACCOUNTS = [  # (hosts of one network, kind, name)
    (
        ["192.0.2.7", "192.0.2.200", "::ffff:192.0.2.9"],
        ANSWER,
        b"\x03www\x03geo\x04test\x00\x00\x01\x00\x01",
    ),
    (["192.0.2.7"], ANSWER, b"\x03www\x03geo\x04test\x00\x00\x1c\x00\x01"),
    (["192.0.2.7", "192.0.2.1"], NXDOMAIN, b"\x03geo\x04test\x00"),
    (["198.51.100.1", "198.51.100.99"], ERROR, b""),
    (["10.1.2.3", "10.1.2.4"], ANSWER, b"\x01a\x00\x00\x01\x00\x01"),  # exempt
    (["2001:db8:0:12::1", "2001:db8:0:12:ffff::2", "2001:db8:0:1f::3"], ANSWER, b"\x01b\x00"),
    (["2001:db8:0:100::1"], NXDOMAIN, b"\x01b\x00"),
    (["fd00::1%eth0", "fd00::2"], ERROR, b"\x01c\x00"),  # exempt
]


def python_slot(lim: RateLimiter, host: str, kind: int, name: bytes) -> int:
    return hash((lim.network(host), kind, name)) & lim.mask


def apart(py: RateLimiter, c, accounts: list) -> bool:
    """Whether no two accounts share a slot in either table (the only place they differ)."""
    for slot in (lambda *k: python_slot(py, *k), c.slot):
        if len({slot(hosts[0], kind, name) for hosts, kind, name in accounts}) < len(accounts):
            return False
    return True


@pytest.mark.parametrize(
    ("rates", "slip", "window", "log_only", "v4", "v6"),
    [
        ((10, 5, 3), 2, 15.0, False, 24, 56),
        ((3, 0, 1), 0, 5.0, False, 24, 56),
        ((7, 7, 7), 1, 2.5, False, 16, 48),
        ((20, 2, 0), 3, 15.0, True, 32, 64),
    ],
)
def test_verdicts_agree_with_rate_limiter_on_random_sequences(
    rates: tuple[int, int, int], slip: int, window: float, log_only: bool, v4: int, v6: int
) -> None:
    rnd = random.Random(hash((rates, slip)) & 0xFFFF)
    now = [5000.0]
    kw = dict(window=window, slip=slip, ipv4_prefix=v4, ipv6_prefix=v6, log_only=log_only)
    kw["exempt"] = ("10.0.0.0/8", "fd00::/8")
    py = RateLimiter(rates, clock=lambda: now[0], size=SIZE, **kw)
    c = fast.RateLimiter(rates, clock=lambda: now[0], size=SIZE, **kw)
    assert apart(py, c, ACCOUNTS)  # else the seeds above need changing
    seen: Counter[int] = Counter()
    for _ in range(30000):
        if rnd.random() < 0.003:  # a pause: credit comes back (or the window passes)
            now[0] += rnd.choice([0.3, 1.0, window / 2, window * 2])
        else:  # a flood: about 500 responses a second over all accounts
            now[0] += rnd.choice([0.0, 0.0, 0.001, 0.002, 0.005])
        hosts, kind, name = rnd.choice(ACCOUNTS)
        host = rnd.choice(hosts)
        want = py.verdict(host, kind, name)
        assert c.verdict(host, kind, name) == want, (host, kind, name, now[0])
        seen[want] += 1
    limited = seen[LOG_ONLY] if log_only else seen[DROP] + seen[SLIP]
    assert seen[OK] > 1000 and limited > 1000, seen


def test_a_new_key_takes_its_slot_over_as_in_python() -> None:
    """Two networks that share a slot reset each other to full credit: never limited."""
    now = [100.0]
    c = fast.RateLimiter((2, 2, 2), clock=lambda: now[0], size=4)
    name = b"\x01x\x00"
    hosts = [f"192.0.{i}.1" for i in range(64)]
    first = hosts[0]
    other = next(h for h in hosts[1:] if c.slot(h, ANSWER, name) == c.slot(first, ANSWER, name))
    assert {c.verdict(h, ANSWER, name) for _ in range(50) for h in (first, other)} == {OK}
    assert [c.verdict(first, ANSWER, name) for _ in range(5)][2:] != [OK, OK, OK]


def test_the_limited_count_and_latest_source_are_kept_for_the_log() -> None:
    c = fast.RateLimiter((1, 1, 1), clock=lambda: 50.0, slip=2)
    assert c.take_limited() == (0, None)
    for host in ["192.0.2.1"] * 4 + ["2001:db8::7"] * 3:
        c.verdict(host, ANSWER, b"")
    assert c.take_limited() == (5, "2001:db8::7")  # 3 + 2 beyond each one's credit
    assert c.take_limited() == (0, None)


def test_any_number_of_exempt_networks() -> None:
    nets = [f"10.{i // 256}.{i % 256}.0/24" for i in range(300)]
    c = fast.RateLimiter((1, 1, 1), exempt=nets, clock=lambda: 5.0)
    assert {c.verdict("10.1.43.9", ANSWER, b"") for _ in range(20)} == {OK}
    assert DROP in {c.verdict("10.2.43.9", ANSWER, b"") for _ in range(20)}


def test_the_table_is_fixed_whatever_the_sources() -> None:
    c = fast.RateLimiter((5, 5, 5))
    size = c.table_bytes()
    assert size == fast.RRL_SLOTS * 32  # 4 MiB, against rrl.py's 3.5
    rnd = random.Random(3)
    for _ in range(20000):
        c.verdict(str(ipaddress.IPv4Address(rnd.getrandbits(32))), ANSWER, b"\x01x\x00")
    assert c.table_bytes() == size


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        fast.RateLimiter((1, 1, 1), size=1000)
    with pytest.raises(ValueError):
        fast.RateLimiter((1, 1, 1), ipv4_prefix=33)
    with pytest.raises(ValueError):
        fast.RateLimiter((1, 1, 1), exempt=["10.0.0.0/40"])
    with pytest.raises(ValueError):
        fast.Cookies(bytes(15))
    with pytest.raises(ValueError):
        fast.RateLimiter((1, 1, 1)).verdict("not-an-address", ANSWER, b"")
