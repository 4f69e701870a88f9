"""The record and routing diffs (geodns/zonediff) on hand-made documents and the tiny City
fixture, whose networks (tests/data/make_mmdb.py NETWORKS) give the expected ranges."""

from __future__ import annotations

import copy
import ipaddress

import pytest

from geodns.errors import ZoneError
from geodns.geo.locator import Locator
from geodns.model import AllUp
from geodns.zonediff import Differ, record_diff, routing_diff, zone_from_document
from geodns.zonediff.ranges import cidrs
from geodns.zonediff.routing import databases
from tests.data.make_mmdb import NETWORKS
from tests.servers import DATA

POOLS = {n: {"addresses": [f"192.0.2.{i}"]} for i, n in enumerate(("eu", "us", "ap"), 1)}


def doc(www: dict, **records: dict) -> dict:
    return {
        "zone": "t.example.",
        "ns": ["ns1.t.example."],
        "pools": copy.deepcopy(POOLS),
        "records": {"ns1": {"A": "192.0.2.53"}, "www": www, **records},
    }


@pytest.fixture(scope="module")
def dbs():
    return databases(Locator.open(str(DATA / "city-test.mmdb"), None))


class Down(AllUp):
    """Every member of the named pools down, the rest up."""

    generation = 1

    def __init__(self, *pools: str) -> None:
        self.pools = pools

    def is_up(self, member) -> bool:
        return member[1] not in self.pools

    def pool_generation(self, pool) -> int:
        return 0


def where(country: str) -> dict[str, list[str]]:
    """The fixture's networks of a country: IPv4 as written, IPv6 natives plus the IPv4
    ones in ::/96 (where an IPv6 database holds its IPv4 tree)."""
    v4 = [n for n, facts in NETWORKS.items() if facts[1] == country and ":" not in n]
    v6 = [n for n, facts in NETWORKS.items() if facts[1] == country and ":" in n]
    for net in map(ipaddress.IPv4Network, v4):
        v6.append(f"{ipaddress.IPv6Address(int(net.network_address))}/{net.prefixlen + 96}")
    order = lambda n: ipaddress.ip_network(n).network_address.packed  # noqa: E731
    return {"ipv4": sorted(v4, key=order), "ipv6": sorted(v6, key=order)}


def moves(diff: list[dict]) -> dict[tuple, list[str]]:
    return {(e["name"], e["family"], e["from"], e["to"]): e["ranges"] for e in diff}


def test_record_diff_lists_each_changed_node() -> None:
    old = doc({"geo": {"continent:EU": "eu", "default": "us"}}, static={"A": ["192.0.2.9"]})
    new = copy.deepcopy(old)
    new["records"]["www"]["geo"]["continent:EU"] = "ap"
    new["records"]["static"] = {"A": ["192.0.2.9"], "TXT": ["hello"], "ttl": 30}
    new["pools"]["eu"]["addresses"].append("192.0.2.99")
    del new["pools"]["ap"]
    new["checks"] = {"web": {"type": "tcp", "port": 80}}
    got = [(e["path"], e["name"], e["type"], e["action"]) for e in record_diff(old, new)]
    assert got == [
        ("pools.ap", "ap", "pool", "remove"),
        ("pools.eu", "eu", "pool", "change"),
        ("checks.web", "web", "check", "add"),
        ("records.static.A", "static.t.example.", "A", "change"),  # its ttl moved
        ("records.static.TXT", "static.t.example.", "TXT", "add"),
        ("records.www.policy", "www.t.example.", "policy", "change"),
    ]
    assert record_diff(old, copy.deepcopy(old)) == []
    whole = record_diff(None, old)
    assert {e["action"] for e in whole} == {"add"} and len(
        whole
    ) == 2 + 3 + 3  # zone, ns; 3 pools; 3 rrsets+policy


def test_moving_a_country_reports_its_networks(dbs) -> None:
    old = doc({"geo": {"continent:EU": "eu", "country:DE": "eu", "default": "us"}})
    new = doc({"geo": {"continent:EU": "eu", "country:DE": "us", "default": "us"}})
    diff = routing_diff(zone_from_document(old), zone_from_document(new), dbs)
    expected = where("DE")
    assert moves(diff) == {
        ("www.t.example.", "ipv4", "eu", "us"): expected["ipv4"],
        ("www.t.example.", "ipv6", "eu", "us"): expected["ipv6"],
    }
    assert routing_diff(zone_from_document(old), zone_from_document(old), dbs) == []


def test_the_health_view_decides(dbs) -> None:
    """GB behind a failover: no move while eu is up; with eu down, GB went to the default
    (us) before and goes to ap after."""
    old = doc({"geo": {"country:GB": "eu", "default": "us"}})
    new = doc({"geo": {"country:GB": {"failover": ["eu", "ap"]}, "default": "us"}})
    a, b = zone_from_document(old), zone_from_document(new)
    assert routing_diff(a, b, dbs) == []
    diff = routing_diff(a, b, dbs, Down("eu"))
    expected = where("GB")
    assert moves(diff) == {
        ("www.t.example.", "ipv4", "us", "ap"): expected["ipv4"],
        ("www.t.example.", "ipv6", "us", "ap"): expected["ipv6"],
    }


def test_a_draw_is_reported_by_its_shares_and_new_names_from_nothing(dbs) -> None:
    old = doc({"weighted": {"us": 9, "eu": 1}})
    new = doc({"weighted": {"us": 1, "eu": 1}}, api={"failover": ["ap", "us"]})
    diff = routing_diff(zone_from_document(old), zone_from_document(new), dbs)
    assert moves(diff) == {
        ("api.t.example.", "ipv4", None, "ap"): ["0.0.0.0/0"],
        ("api.t.example.", "ipv6", None, "ap"): ["::/0"],
        ("www.t.example.", "ipv4", "us 90%, eu 10%", "eu 50%, us 50%"): ["0.0.0.0/0"],
        ("www.t.example.", "ipv6", "us 90%, eu 10%", "eu 50%, us 50%"): ["::/0"],
    }


def test_limit_lists_some_and_counts_all(dbs) -> None:
    old = doc({"geo": {"continent:EU": "eu", "default": "us"}})
    new = doc({"geo": {"continent:EU": "us", "default": "us"}})
    (v4, v6) = routing_diff(zone_from_document(old), zone_from_document(new), dbs, limit=2)
    eu4 = [n for n, facts in NETWORKS.items() if facts[0] == "EU" and ":" not in n]
    joined = list(ipaddress.collapse_addresses(map(ipaddress.IPv4Network, eu4)))
    assert v4["count"] == len(joined) and v4["ranges"] == [str(n) for n in joined[:2]]
    assert v6["count"] > len(v6["ranges"]) == 2


def test_sticky_is_decided_per_query(dbs) -> None:
    old = doc({"weighted": {"us": 1, "eu": 1}, "sticky": True})
    new = doc({"weighted": {"us": 2, "eu": 1}, "sticky": True})
    (entry,) = routing_diff(zone_from_document(old), zone_from_document(new), dbs)
    assert entry["per_query"] and entry["name"] == "www.t.example." and entry["ranges"] == []


def test_differ_takes_documents_and_refuses_broken_ones(dbs) -> None:
    differ = Differ(dbs)
    old = doc({"geo": {"country:DE": "eu", "default": "us"}})
    new = doc({"geo": {"country:DE": "ap", "default": "us"}})
    out = differ(old, new)
    assert [e["path"] for e in out["records"]] == ["records.www.policy"]
    assert {(e["from"], e["to"]) for e in out["routing"]} == {("eu", "ap")}
    deleted = differ(old, None)
    assert {e["to"] for e in deleted["routing"]} == {None}
    broken = doc({"geo": {"country:DE": "nowhere", "default": "us"}})
    with pytest.raises(ZoneError, match="unknown pool 'nowhere'"):
        differ(old, broken)


@pytest.mark.parametrize(
    ("first", "last", "bits", "expected"),
    [
        (0, 2**32 - 1, 32, ["0.0.0.0/0"]),
        (1, 6, 32, ["0.0.0.1/32", "0.0.0.2/31", "0.0.0.4/31", "0.0.0.6/32"]),
        (2**128 - 1, 2**128 - 1, 128, ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"]),
    ],
)
def test_cidrs_cover_intervals_exactly(first: int, last: int, bits: int, expected) -> None:
    kind = ipaddress.IPv4Address if bits == 32 else ipaddress.IPv6Address
    got = [f"{kind(n)}/{p}" for n, p in cidrs(first, last, bits)]
    want = ipaddress.summarize_address_range(kind(first), kind(last))
    assert got == expected == [str(n) for n in want]
