"""native/shared.py: the Python modules' own tests (test_rrl.py, test_cookies.py) run on
the native tables, with the handler where they use one; and what only the shared tables
do: the Python handler and the native threads spend from one account."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from geodns.dns import cookies
from geodns.dns.rrl import ANSWER, OK
from geodns.native import shared as native_abuse
from geodns.native.shared import NativeRateLimiter, NativeServerCookies
from tests.unit import test_cookies, test_rrl

pytestmark = pytest.mark.skipif(not native_abuse.available(), reason="the C extension is not built")

RRL_TESTS = [  # every behaviour test; not the ones reading rrl.py's arrays
    test_rrl.test_a_burst_gets_rate_answers_a_second_and_every_other_limited_one_slips,
    test_rrl.test_a_flood_must_stop_for_about_the_window_before_it_is_answered,
    test_rrl.test_nxdomain_and_errors_have_their_own_rates_and_0_means_unlimited,
    test_rrl.test_exempt_networks_and_log_only_answer_everything,
    test_rrl.test_a_valid_server_cookie_is_never_limited_a_client_cookie_gets_badcookie,
]
COOKIE_TESTS = [  # every behaviour test; not the one about dns/cache.py's memo
    test_cookies.test_a_client_keeps_its_cookie_for_half_an_hour_then_gets_a_fresh_one,
    test_cookies.test_a_bad_server_cookie_gets_a_fresh_one,
]


def native_handler(clock: test_rrl.Clock, secret: bytes | None = bytes(16), **kw):
    """test_rrl's handler with the native limiter, and native cookies on the same clock."""
    h = python_handler(clock, secret, **kw)
    assert isinstance(h.rrl, NativeRateLimiter)  # test_rrl's limiter() made the native one
    if secret is not None:
        h.cookies = NativeServerCookies(secret, h.memos, h.stats.cookies, clock=clock)
    return h


python_handler = test_rrl.handler


@pytest.mark.parametrize("test", RRL_TESTS, ids=lambda t: t.__name__)
def test_rrl_tests_pass_on_the_native_limiter(
    test: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(test_rrl, "RateLimiter", NativeRateLimiter)
    monkeypatch.setattr(test_rrl, "handler", native_handler)
    test()


@pytest.mark.parametrize("name", ["static.example.test", "www.geo.test", "nothere.geo.test"])
def test_udp_is_limited_on_every_path_with_the_native_limiter(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(test_rrl, "RateLimiter", NativeRateLimiter)
    monkeypatch.setattr(test_rrl, "handler", native_handler)
    test_rrl.test_udp_is_limited_on_every_path_tcp_never(name)


@pytest.mark.parametrize("test", COOKIE_TESTS, ids=lambda t: t.__name__)
def test_cookie_tests_pass_on_the_native_memo(
    test: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cookies, "ServerCookies", NativeServerCookies)
    test()


@pytest.mark.parametrize(
    ("offset", "valid"), [(0, True), (-3600, True), (-3601, False), (300, True), (301, False)]
)
def test_the_validity_window_on_the_native_memo(
    offset: int, valid: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cookies, "ServerCookies", NativeServerCookies)
    test_cookies.test_the_validity_window_is_rfc_9018s(offset, valid)


def test_two_users_of_one_table_spend_from_one_account() -> None:
    """The handler's limiter and a second user of its table (as the native threads are, by
    the capsule) share accounts: 10 a second between them, not 10 each."""
    now = [100.0]
    lim = NativeRateLimiter((10, 10, 10), clock=lambda: now[0])
    capsule = lim.capsule()
    assert type(capsule).__name__ == "PyCapsule"
    name = test_rrl.NAME
    spent = [lim.verdict("192.0.2.7", ANSWER, name) for _ in range(6)]
    other = [lim.table.verdict("192.0.2.99", ANSWER, name) for _ in range(6)]  # same /24
    assert spent == [OK] * 6 and other[:4] == [OK] * 4 and OK not in other[4:]


def test_native_counts_are_kept_apart_from_the_handlers() -> None:
    counts = {"new": 0, "valid": 0, "invalid": 0, "malformed": 0}
    jar = NativeServerCookies(bytes(16), None, counts, clock=lambda: 1_700_000_000)
    option = jar.option(b"c" * 8, "192.0.2.1")
    jar.option(b"c" * 8 + option[12:], "192.0.2.1")
    assert counts == {"new": 1, "valid": 1, "invalid": 0, "malformed": 0}
    assert jar.valid_seen and jar.result == "valid"
    assert jar.native_counts() == {"new": 0, "valid": 0, "invalid": 0, "malformed": 0}
    with pytest.raises(ValueError):
        jar.option(b"short", "192.0.2.1")
