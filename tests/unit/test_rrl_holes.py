"""RRL without holes: random names under a wildcard, below a delegation, through a wildcard
CNAME, or NODATA of any type, spend ONE account each; all_per_second caps a network."""

from __future__ import annotations

import random

import dns.flags
import dns.message
import dns.rcode
import pytest

from tests.unit.test_rrl import Clock, handler

RATE, SLIP, N = 5, 2, 200


def flood(h, names: list[str], qtype: str = "A", host: str = "192.0.2.7") -> dict[str, int]:
    seen = {"full": 0, "tc": 0, "none": 0}
    for name in names:
        reply = h.handle(dns.message.make_query(name, qtype).to_wire(), host, 512)
        if reply is None:
            seen["none"] += 1
            continue
        msg = dns.message.from_wire(reply)
        seen["tc" if msg.flags & dns.flags.TC else "full"] += 1
    return seen


def randoms(suffix: str, n: int = N, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    return [f"r{rnd.getrandbits(40):x}.{suffix}" for _ in range(n)]


# (what, names) — the account each should land in is one, however the label varies.
FLOODS = {
    "under a wildcard": randoms("edge.example.test"),  # *.edge: A 192.0.2.99
    "below a delegation": randoms("sub.example.test"),  # sub: NS, a referral
    "through a wildcard CNAME": randoms("wcname.example.test"),  # *.wcname: CNAME static
    "NXDOMAIN": randoms("nope.geo.test"),
}


@pytest.mark.parametrize("names", list(FLOODS.values()), ids=list(FLOODS))
def test_random_names_share_one_account(names: list[str]) -> None:
    h = handler(Clock(), rate=RATE, slip=SLIP)
    seen = flood(h, names)
    # One second's credit answered whole; of the rest every 2nd slips, the others dropped.
    assert seen == {"full": RATE, "tc": (N - RATE) // SLIP, "none": N - RATE - (N - RATE) // 2}


def test_the_wildcard_answer_is_still_the_synthesised_one() -> None:
    h = handler(Clock(), rate=RATE, slip=SLIP)
    reply = h.handle(dns.message.make_query("x1.edge.example.test", "A").to_wire(), "192.0.2.7")
    msg = dns.message.from_wire(reply)
    assert msg.answer[0].name.to_text() == "x1.edge.example.test."
    assert msg.answer[0][0].address == "192.0.2.99"


def test_nodata_of_random_types_is_one_account() -> None:
    h = handler(Clock(), rate=RATE, slip=0)
    rnd = random.Random(3)
    seen = {"full": 0, "none": 0}
    for _ in range(N):
        qtype = rnd.choice(["MX", "SRV", "NAPTR", "HINFO", "LOC", "SSHFP", "TLSA", "URI"])
        q = dns.message.make_query("static.example.test", qtype).to_wire()
        seen["full" if h.handle(q, "192.0.2.7", 512) is not None else "none"] += 1
    assert seen == {"full": RATE, "none": N - RATE}


def test_distinct_real_names_keep_their_own_accounts() -> None:
    """What is not synthesised stays keyed by its question: two names, two accounts."""
    h = handler(Clock(), rate=RATE, slip=0)
    seen = flood(h, ["static.example.test", "mail.example.test"] * 20)
    assert seen["full"] == 2 * RATE


def test_all_per_second_caps_a_network_over_every_account() -> None:
    h = handler(Clock(), rate=100, slip=0, all_rate=RATE)
    names = ["static.example.test", "mail.example.test", "ns1.example.test", "nope.geo.test"]
    seen = flood(h, names * 25)
    assert seen["full"] == RATE  # every name within its own rate, the network is not
    assert flood(h, names, host="192.0.3.7")["full"] == len(names)  # another network


def test_all_per_second_alone_turns_rrl_on(tmp_path) -> None:
    from geodns import config
    from geodns.build import make_handler
    from geodns.geo.ecs import ClientFactory
    from geodns.geo.locator import Locator
    from geodns.table import compile_table

    path = tmp_path / "c.yaml"
    path.write_text("rrl: {all_per_second: 3}\n")
    conf = config.load(str(path))
    assert conf.rrl.all_per_second == 3
    h = make_handler(conf, compile_table([]), ClientFactory(Locator(None, None)))
    assert h.rrl is not None and h.rrl.all_rate == 3 and h.rrl.rates == (0, 0, 0)


def test_refused_is_one_account_per_network() -> None:
    h = handler(Clock(), rate=RATE, slip=0)
    seen = flood(h, randoms("example.org"))
    assert seen["full"] == RATE
    reply = h.handle(dns.message.make_query("a.example.org", "A").to_wire(), "192.0.3.9", 512)
    assert dns.message.from_wire(reply).rcode() == dns.rcode.REFUSED


def test_all_per_second_is_the_same_on_the_native_table() -> None:
    """rrl.py and the C table (the native threads' and the workers' shared one) give the same
    verdicts, all_rate included, for one random sequence on one clock."""
    from geodns.dns.rrl import RateLimiter
    from geodns.native import shared

    if not shared.available():
        pytest.skip("geodns._native not built")
    clock = Clock()
    kw = {"window": 5.0, "slip": 3, "clock": clock, "all_rate": 7}
    py = RateLimiter((4, 2, 0), **kw)
    c = shared.native_limiter(py)
    rnd = random.Random(11)
    hosts = ["192.0.2.7", "198.51.100.3", "2001:db8::1"]
    names = [b"\x01a\x00\x00\x01\x00\x01", b"\x01b\x00\x00\x01\x00\x01", b"\x00"]
    seen = set()
    for _ in range(3000):
        clock.now += rnd.choice([0.0, 0.01, 0.05, 0.3])
        host, kind, name = rnd.choice(hosts), rnd.randrange(3), rnd.choice(names)
        verdict = py.verdict(host, kind, name)
        assert c.verdict(host, kind, name) == verdict, (host, kind, name)
        seen.add(verdict)
    assert seen == {0, 1, 2}  # OK, SLIP and DROP all happened
