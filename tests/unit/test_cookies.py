"""DNS COOKIE server side: SipHash-2-4 against the paper's vectors, RFC 9018 server cookies
against the RFC's, the validity window, and one cookie per client kept in the memos."""

from __future__ import annotations

import pytest
from siphashc import siphash

from geodns.dns import cookies
from geodns.dns.cache import Memos
from geodns.dns.stats import Stats
from geodns.model import AllUp

# SipHash-2-4, key 00..0f, message 00..(n-1): the reference implementation's vectors
# (Aumasson & Bernstein, "SipHash: a fast short-input PRF", appendix A for n = 15)
SIPHASH_VECTORS = {
    0: "310e0edd47db6f72",
    1: "fd67dc93c539f874",
    2: "5a4fa9d909806c0d",
    3: "2d7efbd796666785",
    15: "e545be4961ca29a1",
    63: "724506eb4c328a95",
}

# RFC 9018 appendix A: secret, client cookie, client address, time -> server cookie
RFC9018 = [
    (
        "e5e973e5a6b2a43f48e7dc849e37bfcf",
        "2464c4abcf10c957",
        "198.51.100.100",
        1559731985,
        "010000005cf79f111f8130c3eee29480",
    ),
    (
        "e5e973e5a6b2a43f48e7dc849e37bfcf",
        "2464c4abcf10c957",
        "198.51.100.100",
        1559734385,
        "010000005cf7a871d4a564a1442aca77",
    ),
    (
        "e5e973e5a6b2a43f48e7dc849e37bfcf",
        "fc93fc62807ddb86",
        "203.0.113.203",
        1559734700,
        "010000005cf7a9acf73a7810aca2381e",
    ),
    (
        "445536bcd2513298075a5d379663c962",
        "22681ab97d52c298",
        "2001:db8:220:1:59de:d0f4:8769:82b8",
        1559741961,
        "010000005cf7c609a6bb79d16625507a",
    ),
]


@pytest.mark.parametrize(("n", "want"), SIPHASH_VECTORS.items())
def test_siphash_matches_the_reference_vectors(n: int, want: str) -> None:
    assert siphash(bytes(range(16)), bytes(range(n))).to_bytes(8, "little").hex() == want


@pytest.mark.parametrize(("secret", "client", "address", "now", "want"), RFC9018)
def test_server_cookies_are_rfc_9018s(secret, client, address, now, want) -> None:
    made = cookies.server_cookie(
        bytes.fromhex(secret), bytes.fromhex(client), cookies.packed_address(address), now
    )
    assert made.hex() == want
    jar = Jar(secret, now)
    assert jar.cookies.valid(bytes.fromhex(client + want), address, now)
    assert not jar.cookies.valid(bytes.fromhex(client + want), "192.0.2.1", now)


def test_a_cookie_another_server_made_with_its_reserved_bytes_is_valid() -> None:
    """RFC 9018 A.3: the reserved bytes the client echoes are part of the hash."""
    body = bytes.fromhex("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5")
    made = int.from_bytes(body[12:16], "big")
    jar = Jar("e5e973e5a6b2a43f48e7dc849e37bfcf", made)
    assert jar.cookies.valid(body, "203.0.113.203", made + 60)
    assert not jar.cookies.valid(body, "203.0.113.203", made + 3601), "too old by then"


class Jar:
    """ServerCookies with its memos, counters and a clock the test moves."""

    def __init__(self, secret: str = "00" * 16, now: float = 1_700_000_000) -> None:
        self.now = now
        self.stats = Stats()
        self.memos = Memos(AllUp(), limit=1000)
        self.cookies = cookies.ServerCookies(
            bytes.fromhex(secret), self.memos, self.stats.cookies, clock=lambda: self.now
        )

    def ask(self, body: bytes, host: str = "192.0.2.7") -> bytes:
        """The server cookie our reply carries for a query with this COOKIE body."""
        option = self.cookies.option(body, host)
        assert option[:4] == b"\x00\x0a\x00\x18" and option[4:12] == body[:8]
        return option[12:]


CLIENT = bytes.fromhex("5ca1ab1e0ddba11c")


@pytest.mark.parametrize(
    ("offset", "valid"),
    [(0, True), (-3600, True), (-3601, False), (300, True), (301, False)],
)
def test_the_validity_window_is_rfc_9018s(offset: int, valid: bool) -> None:
    """Not older than an hour, not more than five minutes ahead."""
    jar = Jar()
    made = cookies.server_cookie(
        jar.cookies.secret, CLIENT, cookies.packed_address("192.0.2.7"), int(jar.now) + offset
    )
    assert jar.cookies.valid(CLIENT + made, "192.0.2.7", int(jar.now)) is valid


def test_a_client_keeps_its_cookie_for_half_an_hour_then_gets_a_fresh_one() -> None:
    jar = Jar()
    first = jar.ask(CLIENT)
    assert first[:4] == b"\x01\x00\x00\x00" and len(first) == 16
    jar.now += 1799
    assert jar.ask(CLIENT + first) == first, "kept: no SipHash on the hot path"
    assert jar.stats.cookies["valid"] == 1
    jar.now += 1
    renewed = jar.ask(CLIENT + first)
    assert renewed != first and int.from_bytes(renewed[4:8], "big") == int(jar.now)
    assert jar.stats.cookies["valid"] == 2, "the old one was still valid (under an hour)"
    assert jar.ask(CLIENT, host="192.0.2.8") != renewed, "bound to the client address"


def test_a_bad_server_cookie_gets_a_fresh_one() -> None:
    jar = Jar()
    ours = jar.ask(CLIENT)
    for bad in (bytes(16), ours[:-1] + bytes([ours[-1] ^ 1]), bytes(8), bytes(32)):
        assert jar.ask(CLIENT + bad) == ours
    assert jar.stats.cookies == {"new": 1, "valid": 0, "invalid": 4, "malformed": 0}
    other = Jar("11" * 16)  # a server with another secret: not ours
    assert other.ask(CLIENT + ours) != ours and other.stats.cookies["invalid"] == 1


def test_the_cookie_memo_lives_under_the_memos_bound() -> None:
    jar = Jar()
    for n in range(2500):
        jar.ask(n.to_bytes(8, "big"))
    assert len(jar.memos.cookies) <= jar.memos.limit


@pytest.mark.parametrize(
    ("n", "ok"),
    [
        (0, False),
        (7, False),
        (8, True),
        (9, False),
        (15, False),
        (16, True),
        (40, True),
        (41, False),
    ],
)
def test_well_formed_lengths_are_rfc_7873s(n: int, ok: bool) -> None:
    assert cookies.well_formed(bytes(n)) is ok
