"""Steering without sockets: capacity factors and shedding in every policy, sticky weighted
rendezvous, measured RTT look-ups, the RTT store (smoothing, expiry, state_dir), settings.

Decisions go through the real Handler with a real HealthBoard as its health view, so a factor
or a measurement that moves must also drop the cached decisions it affects."""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path

import dns.edns
import dns.message
import pytest

from geodns import config, policies, table
from geodns.dns.handler import Handler
from geodns.errors import ConfigError, ZoneError
from geodns.geo import locator as geoip
from geodns.geo.ecs import ClientFactory
from geodns.health.board import HealthBoard
from geodns.health.steering import Measured, RttConfig, capacity_factor, parse_client
from geodns.model import FAMILY_V4, Client, GeoFacts
from geodns.steer.capacity import one_number
from geodns.steer.rtt import RttStore
from geodns.zones import zonefile
from tests.servers import DATA

ZONE = """\
zone: steer.test.
ttl: 60
ns: [ns1.steer.test.]
pools:
  a: {addresses: [192.0.2.1], location: {lat: 50.1, lon: 8.7},
      capacity: {query: 'max(gpu_util{pool="a"})', low: 0.7, high: 0.9}}
  b: {addresses: [192.0.2.2], location: {lat: 39.0, lon: -77.5},
      capacity: {query: 'max(gpu_util{pool="b"})', low: 0.7, high: 0.9}}
  c: {addresses: [192.0.2.3], location: {lat: 35.7, lon: 139.7}}
records:
  ns1: {A: 192.0.2.53}
  w: {weighted: {a: 1, b: 1}}
  sticky: {weighted: {a: 1, b: 1, c: 1}, sticky: true}
  near: {latency: [a, b, c]}
  only: {latency: [a, b]}
  geo: {geo: {continent:EU: a, default: b}}
  fo: {failover: [a, b]}
  fo2: {failover: [a, c]}
  nest: {failover: [{weighted: {a: 1, b: 1}}, {latency: [a, b]}, c]}
  nest2: {geo: {continent:EU: {failover: [a, b]}, default: c}}
"""
A, B, C = ("steer.test.", "a"), ("steer.test.", "b"), ("steer.test.", "c")


def setup(zone: str = ZONE) -> tuple[Handler, HealthBoard]:
    board = HealthBoard()
    compiled = table.compile_table([zonefile.load_text(zone, "steer.test.yaml")])
    locator = geoip.Locator.open(DATA / "city-test.mmdb", DATA / "asn-test.mmdb")
    return Handler(compiled, ClientFactory(locator), board, rng=random.Random(7)), board


def ask(h: Handler, name: str, ecs: str | None = None) -> tuple[str, int]:
    options = [dns.edns.ECSOption.from_text(ecs)] if ecs else []
    q = dns.message.make_query(f"{name}.steer.test", "A", use_edns=0, options=options)
    reply = dns.message.from_wire(h.handle(q.to_wire(), "127.0.0.1"))
    scope = next((o.scopelen for o in reply.options if isinstance(o, dns.edns.ECSOption)), -1)
    return reply.answer[0][0].address, scope


def shares(h: Handler, name: str, n: int = 2000) -> dict[str, float]:
    counts: dict[str, int] = {}
    for _ in range(n):
        addr = ask(h, name)[0]
        counts[addr] = counts.get(addr, 0) + 1
    return {k: v / n for k, v in counts.items()}


@pytest.mark.parametrize(
    ("load", "factor"),
    [(0.0, 1.0), (0.7, 1.0), (0.8, 0.5), (0.85, 0.25), (0.9, 0.0), (3.0, 0.0)],
)
def test_capacity_factor_is_linear_between_low_and_high(load: float, factor: float) -> None:
    assert capacity_factor(load, 0.7, 0.9) == pytest.approx(factor)


def test_weighted_scales_by_factor_and_drops_a_shed_pool() -> None:
    h, board = setup()
    even = shares(h, "w")
    assert abs(even["192.0.2.1"] - 0.5) < 0.05
    board.set_capacity({A: (0.5, "load 0.8"), B: (1.0, "")})
    assert abs(shares(h, "w")["192.0.2.1"] - 1 / 3) < 0.05  # weight 1 x 0.5 against 1
    board.set_capacity({A: (0.0, "load 0.95 >= high 0.9: shed"), B: (1.0, "")})
    assert shares(h, "w", 300) == {"192.0.2.2": 1.0}
    board.set_capacity({A: (0.0, "shed"), B: (0.0, "shed")})  # both shed: as configured
    assert abs(shares(h, "w")["192.0.2.1"] - 0.5) < 0.05


def test_every_policy_skips_a_shed_pool_but_never_has_none() -> None:
    h, board = setup()
    gb = "81.2.69.0/24"  # EU, nearest a
    assert [ask(h, n, gb)[0] for n in ("near", "geo", "fo")] == ["192.0.2.1"] * 3
    board.set_capacity({A: (0.0, "load 0.95 >= high 0.9: shed")})
    # latency skips a, geo falls through as for a down pool, failover takes the next
    assert [ask(h, n, gb)[0] for n in ("near", "geo", "fo")] == ["192.0.2.2"] * 3
    board.set_capacity({A: (0.0, "shed"), B: (0.0, "shed")})
    # every candidate shed: capacity is ignored, answers as configured (nearest, first)
    assert [ask(h, n, gb)[0] for n in ("only", "geo", "fo")] == ["192.0.2.1"] * 3
    assert ask(h, "near", gb)[0] == "192.0.2.3"  # c has no capacity: still a candidate
    assert ask(h, "fo2", gb)[0] == "192.0.2.3"
    # a nested policy with nothing but shed pools is shed to its parent, which looks on
    assert [ask(h, n, gb)[0] for n in ("nest", "nest2")] == ["192.0.2.3"] * 2
    board.set_capacity({})  # no data any more: no shedding
    assert [ask(h, n, gb)[0] for n in ("near", "geo", "fo", "nest2")] == ["192.0.2.1"] * 4


def test_explain_trace_says_load_and_factor() -> None:
    h, board = setup()
    board.set_capacity({A: (0.0, "load 0.95 >= high 0.9: shed"), B: (0.5, "load 0.8")})
    client = Client(ipaddress.ip_address("81.2.69.1").packed, FAMILY_V4, 32, False)
    trace: list[str] = []
    node = next(pa for pa in h.table.zones[b"\x05steer\x04test\x00"].policies.values())
    policies.resolve(node.node, client, board, random.Random(1), trace)
    assert "capacity: a x 0.00 (load 0.95 >= high 0.9: shed), b x 0.50 (load 0.8)" in trace[-1]
    trace = []
    near = [pa for pa in h.table.zones[b"\x05steer\x04test\x00"].policies.values()]
    policies.resolve(near[2].node, client, board, random.Random(1), trace)
    assert trace[0] == "latency: skipped a (shed (load 0.95 >= high 0.9: shed))", trace


def _net(i: int) -> str:
    return f"{10 + i // 256}.{i % 256}.7.0/24"


def sticky_map(h: Handler, n: int = 3000) -> list[str]:
    return [ask(h, "sticky", _net(i))[0] for i in range(n)]


def test_sticky_rendezvous_moves_only_what_must_move() -> None:
    h, board = setup()
    before = sticky_map(h)
    counts = {a: before.count(a) for a in set(before)}
    assert all(abs(n / 3000 - 1 / 3) < 0.04 for n in counts.values()), counts
    board.set_capacity({A: (0.0, "shed")})  # a leaves (shed, as down or drained would)
    during = sticky_map(h)
    moved = [i for i in range(3000) if before[i] != during[i]]
    assert all(before[i] == "192.0.2.1" for i in moved)  # 0 clients of b and c moved
    assert len(moved) == counts["192.0.2.1"] and "192.0.2.1" not in during
    to_b = sum(during[i] == "192.0.2.2" for i in moved) / len(moved)
    assert abs(to_b - 0.5) < 0.07  # a's clients spread by weight over b and c
    board.set_capacity({})
    assert sticky_map(h) == before  # back: every client where it was
    assert ask(h, "sticky", "81.2.69.0/24")[1] == 24


def test_sticky_weight_change_moves_a_sixth_all_onto_that_pool() -> None:
    h, _ = setup()
    before = sticky_map(h)
    h2, _ = setup(ZONE.replace("{a: 1, b: 1, c: 1}", "{a: 2, b: 1, c: 1}"))
    after = sticky_map(h2)
    moved = [i for i in range(3000) if before[i] != after[i]]
    assert all(after[i] == "192.0.2.1" for i in moved)
    assert abs(len(moved) / 3000 - 1 / 6) < 0.03, len(moved)


def facts_for(address: str, country: str = "DE", asn: int | None = None) -> Client:
    facts = GeoFacts(prefix_len=16, continent="EU", country=country, asn=asn)
    return Client(ipaddress.ip_address(address).packed, FAMILY_V4, 32, False, facts)


def test_measured_most_specific_source_wins_and_bounds_the_scope() -> None:
    m = Measured(
        {
            parse_client("5.1.7.0/24"): {"a": 5.0},
            parse_client("asn:3320"): {"a": 40.0, "b": 30.0},
            parse_client("country:DE"): {"a": 90.0, "b": 10.0, "c": 200.0},
        }
    )
    found = m.find(facts_for("5.1.7.9", asn=3320))
    assert found.costs == {
        "a": (5.0, "network 5.1.7.0/24"),
        "b": (30.0, "asn:3320"),
        "c": (200.0, "country:DE"),
    }
    assert found.scope == 24
    neighbour = m.find(facts_for("5.1.8.9"))
    assert neighbour.costs["a"] == (90.0, "country:DE") and neighbour.scope == 24
    assert m.find(facts_for("81.2.69.1", country="GB")).costs == {}


def test_latency_ranks_by_measurement_then_table_then_distance() -> None:
    h, board = setup()
    pick, geoip_scope = ask(h, "near", "5.1.7.0/24")
    assert pick == "192.0.2.1" and geoip_scope < 24  # by distance, over the GeoIP network
    table_ = {parse_client("5.1.7.0/24"): {"b": 12.0, "a": 30.0}}
    board.set_measured("steer.test.", Measured(table_))
    assert ask(h, "near", "5.1.7.0/24") == ("192.0.2.2", 24)
    assert ask(h, "near", "5.1.8.0/24") == ("192.0.2.1", 24)  # its neighbour: distance
    board.set_measured("steer.test.", Measured({**table_, ("country", "DE"): {"c": 1.0}}))
    assert ask(h, "near", "5.1.8.0/24") == ("192.0.2.3", 24)  # the rest of the country
    assert ask(h, "near", "5.1.7.0/24") == ("192.0.2.3", 24)  # c: only measured by country
    board.set_measured("steer.test.", None)
    assert ask(h, "near", "5.1.7.0/24") == ("192.0.2.1", geoip_scope)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rtt_store_smooths_expires_and_persists(tmp_path: Path) -> None:
    board, clock = HealthBoard(), Clock()
    settings = RttConfig(half_life=60.0, expire_after=600.0)
    store = RttStore(board, lambda: settings, str(tmp_path), clock)
    item = {"client": "5.1.7.0/24", "pool": "a", "rtt_ms": 10.0}
    assert store.post("steer.test.", [item], {"a", "b"}) == (1, [])
    clock.now += 60  # one half-life later a sample of 40 weighs twice the old 10
    store.post("steer.test.", [{**item, "rtt_ms": 40.0}], {"a", "b"})
    key = parse_client("5.1.7.0/24")
    assert board.measured("steer.test.").by_key[key]["a"] == pytest.approx((10 * 0.5 + 40) / 1.5)
    again = RttStore(HealthBoard(), lambda: settings, str(tmp_path), clock)
    assert again.load() == 1 and again.table("steer.test.") == store.table("steer.test.")
    clock.now += 601
    assert store.expire() == 1 and board.measured("steer.test.") is None
    bad = [item, {"client": "nowhere", "pool": "z", "rtt_ms": -1}]
    count, problems = store.post("steer.test.", bad, {"a"})
    assert count == 0 and len(problems) == 3 and board.measured("steer.test.") is None
    assert json.loads((tmp_path / "rtt.json").read_text())["zones"]["steer.test."] == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, (None, "no data")),
        (
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"value": [1, "0.5"]}]},
            },
            (0.5, ""),
        ),
        (
            {"status": "success", "data": {"resultType": "scalar", "result": [1, "0.25"]}},
            (0.25, ""),
        ),
        ({"status": "error", "error": "parse error"}, (None, "query failed: parse error")),
    ],
)
def test_one_number(body: dict, expected: tuple) -> None:
    assert one_number(body) == expected


def test_two_series_is_an_error_that_says_so() -> None:
    result = [{"value": [1, "0.5"]}, {"value": [1, "0.6"]}]
    value, why = one_number(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    )
    assert value is None and why.startswith("2 series")


def test_config_and_zone_checks(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "prometheus: {url: 'http://127.0.0.1:9090', interval: 5s, stale_after: 1m}\n"
        "rtt: {half_life: 2m, expire_after: 1h}\n"
    )
    conf = config.load(str(path))
    assert (conf.prometheus.interval, conf.prometheus.stale_after) == (5.0, 60.0)
    assert (conf.rtt.half_life, conf.rtt.expire_after) == (120.0, 3600.0)
    path.write_text("prometheus: {url: 'ftp://x', interval: 0s, colour: red}\n")
    with pytest.raises(ConfigError) as exc:
        config.load(str(path))
    text = str(exc.value)
    assert "prometheus.url" in text and "prometheus.interval" in text and "colour" in text
    bad = ZONE.replace("low: 0.7, high: 0.9}}\n  b", "low: 0.9, high: 0.7}}\n  b")
    with pytest.raises(ZoneError, match="pool 'a': capacity must be"):
        zonefile.load_text(bad, "steer.test.yaml")


def test_workers_are_sent_only_the_steering_that_moved() -> None:
    from geodns.serve.channel import health_change
    from geodns.serve.worker import PushedHealth

    board = HealthBoard()
    worker = PushedHealth(board.generation, board.down(), board.pool_generations())
    seen: tuple = (board.down(), board.pool_generations(), None)

    def push() -> object:
        nonlocal seen
        change, seen = health_change(
            board.down(), board.pool_generations(), board.generation, seen, board.steering
        )
        worker.apply(change)
        return change.steering

    eu = Measured({parse_client("5.1.7.0/24"): {"a": 5.0}})
    board.set_measured("steer.test.", eu)
    board.set_measured("other.test.", Measured({parse_client("country:GB"): {"x": 9.0}}))
    assert set(push()[1]) == {"steer.test.", "other.test."}
    board.set_capacity({A: (0.5, "load 0.8")})
    assert push() == ({A: 0.5}, {})  # the factors alone: no RTT table goes again
    board.set_capacity({A: (0.5, "load 0.81")})  # a new note, the same factor: nothing
    assert push() is None
    board.set_measured("other.test.", None)
    assert push() == (None, {"other.test.": None})
    assert worker.capacity(A) == 0.5 and worker.measured("steer.test.") == eu
    assert worker.measured("other.test.") is None and board.capacity_note(A) == "load 0.81"
