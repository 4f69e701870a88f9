"""octoDNS dynamic data -> geodns policy -> octoDNS dynamic data, the same (no server)."""

from __future__ import annotations

import pytest

from geodns.integrations import octomap

CONTINENT = {"US": "NA-US", "CA": "NA-CA", "GB": "EU-GB"}.get

A = {
    "values": ["203.0.113.1"],
    "dynamic": {
        "pools": {
            "eu": {
                "values": [
                    {"value": "192.0.2.1", "weight": 2, "status": "obey"},
                    {"value": "192.0.2.2", "weight": 1, "status": "down"},
                ],
                "fallback": "us",
            },
            "us": {
                "values": [{"value": "198.51.100.1", "weight": 1, "status": "up"}],
                "fallback": "ca",
            },
            "ca": {"values": [{"value": "198.51.100.9", "weight": 1, "status": "obey"}]},
        },
        "rules": [
            {"pool": "ca", "subnets": ["10.0.0.0/8", "2001:db8::/32"]},
            {"pool": "eu", "geos": ["EU", "NA-US-CA"]},
            {"pool": "us", "geos": ["NA-US"]},
            {"pool": "ca"},
        ],
    },
}


def _aaaa() -> dict:
    out = {"values": ["2001:db8::1"], "dynamic": {"pools": {}, "rules": A["dynamic"]["rules"]}}
    for name, pool in A["dynamic"]["pools"].items():
        values = [
            {**v, "value": f"2001:db8:{name_i}::{i}"}
            for i, v in enumerate(pool["values"])
            for name_i in [len(name)]
        ]
        out["dynamic"]["pools"][name] = {**pool, "values": values}
    return out


def test_a_round_trips_through_a_geo_policy() -> None:
    node, pools = octomap.policy("infer", {"A": A}, {"protocol": "HTTPS", "port": 443})
    geo = node["geo"]
    assert list(geo) == [
        "cidr:10.0.0.0/8",
        "cidr:2001:db8::/32",
        "continent:EU",
        "subdivision:US-CA",
        "country:US",
        "default",
    ]
    assert geo["continent:EU"] == {
        "failover": [
            {"weighted": {"infer/eu/0": 2, "infer/eu/1:down:1": 0}},
            {"weighted": {"infer/us/0:up": 1}},
            {"weighted": {"infer/ca/0": 1}},
            "infer/values",
        ]
    }
    assert pools["infer/eu/0"]["check"] == "infer/check" and "check" not in pools["infer/us/0:up"]
    back = octomap.dynamic("infer", node, pools, CONTINENT)
    assert back == {"A": A}


def test_a_and_aaaa_share_pools_and_both_come_back() -> None:
    both = {"A": A, "AAAA": _aaaa()}
    node, pools = octomap.policy("infer", both, None)
    assert pools["infer/eu/0"]["addresses"] == ["192.0.2.1", "2001:db8:2::0"]
    assert octomap.dynamic("infer", node, pools, CONTINENT) == both


def test_misaligned_families_and_foreign_nodes() -> None:
    other = _aaaa()
    other["dynamic"]["pools"]["eu"]["values"][0]["weight"] = 5
    with pytest.raises(ValueError, match="same pools"):
        octomap.policy("infer", {"A": A, "AAAA": other}, None)
    for node in (
        {"latency": ["a", "b"]},
        {"geo": {"default": "plain-pool"}},
        {"weighted": {"a": 1}, "sticky": True},
    ):
        with pytest.raises(octomap.NotOurs):
            octomap.dynamic("x", node, {"x/values": {"addresses": ["192.0.2.1"]}}, CONTINENT)
    assert octomap.referenced(
        {
            "geo": {
                "continent:EU": {"failover": ["a", "b"]},
                "default": {"weighted": {"c": 1, "a": 2}},
            }
        }
    ) == ["a", "b", "c"]
