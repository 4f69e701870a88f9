"""`geodns import azure-tm`: Traffic Manager profiles answer as Azure documents they would.

Fixtures (tests/data/import/azure/) follow the Microsoft.Network/trafficManagerProfiles
resource (ARM: settings under `properties`; endpoints typed externalEndpoints,
azureEndpoints, nestedEndpoints) and `az network traffic-manager profile show`'s flat
output. Expected answers were written by hand from "Traffic Manager routing methods":
Priority answers the lowest priority number that is healthy; Weighted in proportion;
Performance the "closest" endpoint by network latency; Geographic the most granular
mapped region (state > country > region grouping > WORLD); Subnet the endpoint whose
ranges hold the client address, else the one without ranges; MultiValue up to maxReturn
healthy endpoints; a nested profile routes by its own method. Clients are placed by
GeoLite2-City 2018 as `maxminddb` reads it (81.2.69.160 London, 85.214.0.1 Berlin,
24.24.24.24 New York state, 128.32.0.1 California, 200.160.2.3 Rio, 1.0.16.1 Tokyo,
103.4.96.1 Singapore, 1.128.0.1 Australia, 203.2.218.1 Sydney).
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.importkit import FIXTURES, Explainer, needs_geolite2, run_import

SRC = FIXTURES / "azure"
pytestmark = needs_geolite2
EU1, EU2, US, USCA, JP, WORLD = (
    "192.0.2.100",
    "192.0.2.101",
    "198.51.100.100",
    "198.51.100.101",
    "203.0.113.100",
    "192.0.2.199",
)
WE, EUS, JE = "192.0.2.110", "198.51.100.110", "203.0.113.110"


@pytest.fixture(scope="module")
def imported():
    return run_import("azure-tm", SRC / "profiles.json", "--zone", "example.net")


@pytest.fixture(scope="module")
def zone(imported, tmp_path_factory) -> Explainer:
    return Explainer(tmp_path_factory.mktemp("azure"), imported)


def test_left_out_items_are_listed(imported) -> None:
    assert imported.rc == 2, imported.stderr
    left = imported.unmapped()
    assert left == [
        "not mapped: profile app-geo: geographic code 'GEO-ME': not a place geodns names",
        "not mapped: endpoint webapp: an Azure resource: geodns pools answer addresses, not names",
        "not mapped: endpoint eastus2: host name 'backend.example.net': geodns pools answer "
        "addresses, not names",
    ]
    assert "eu-old: disabled in the profile" in imported.stderr


def test_monitor_becomes_the_pools_check(imported) -> None:
    check = imported.doc["pools"]["app-us"]["check"]
    assert check == {
        "type": "https",
        "port": 443,
        "path": "/health",
        "expect": [200, 201, 202, 203, 204],
        "tls_verify": False,
        "host": "app.example.net",
        "interval": "30s",
        "timeout": "10s",
        "rise": 1,
        "fall": 4,  # degraded once toleratedNumberOfFailures (3) is exceeded
    }


def test_nested_profile_becomes_a_nested_node(imported) -> None:
    geo = imported.doc["records"]["app"]["geo"]
    assert geo["continent:EU"] == {"failover": ["app-eu-primary", "app-eu-backup"]}


def test_az_cli_flat_output_reads_the_same(imported) -> None:
    flat = run_import("azure-tm", SRC / "az-profile-show.json", "--zone", "example.net")
    assert flat.rc == 0, flat.stderr
    assert flat.doc["records"]["canary"] == imported.doc["records"]["canary"]
    assert flat.doc["pools"]["canary-stable"] == imported.doc["pools"]["canary-stable"]


def test_a_profile_names_no_zone() -> None:
    missing = run_import("azure-tm", SRC / "profiles.json")
    assert missing.rc == 1 and "--zone" in missing.stderr and missing.text == ""


TABLE = [
    ("app", "81.2.69.160", {EU1}),  # GB: GEO-EU -> the nested Priority profile's first
    ("app", "85.214.0.1", {EU1}),  # DE
    ("app", "24.24.24.24", {US}),  # US-NY: GEO-NA
    ("app", "128.32.0.1", {USCA}),  # US-CA: the state beats GEO-NA
    ("app", "200.160.2.3", {US}),  # BR: GEO-SA
    ("app", "1.0.16.1", {JP}),  # country JP
    ("app", "103.4.96.1", {WORLD}),  # SG: no mapping but WORLD
    ("app", "1.128.0.1", {WORLD}),  # AU
    ("api", "81.2.69.160", {WE}),  # Performance: London -> West Europe
    ("api", "77.88.55.1", {WE}),  # Moscow
    ("api", "24.24.24.24", {EUS}),
    ("api", "128.32.0.1", {EUS}),
    ("api", "200.160.2.3", {EUS}),  # Rio: East US over West Europe
    ("api", "1.0.16.1", {JE}),
    ("api", "103.4.96.1", {JE}),  # Singapore
    ("api", "203.2.218.1", {JE}),  # Sydney
    ("office", "81.2.69.10", {"192.0.2.130"}),  # Subnet: 81.2.69.0/24 (first + scope)
    ("office", "1.0.17.1", {"192.0.2.131"}),  # 1.0.16.0-1.0.31.255 (first + last)
    ("office", "1.0.31.255", {"192.0.2.131"}),
    ("office", "1.0.32.0", {"198.51.100.130"}),  # just past the range: the catch-all
    ("office", "8.8.8.8", {"198.51.100.130"}),
]


@pytest.mark.parametrize(("name", "client", "expected"), TABLE)
def test_answers_equal_traffic_managers(zone: Explainer, name, client, expected) -> None:
    assert zone.answer(f"{name}.example.net.", "A", client) == expected


HEALTH = [
    ("app", "81.2.69.160", ("app-eu-primary",), {EU2}),  # the nested Priority's next
    ("api", "81.2.69.160", ("api-westeurope",), {EUS}),  # Performance: the next closest
]


@pytest.mark.parametrize(("name", "client", "down", "expected"), HEALTH)
def test_degraded_endpoints_give_way_as_in_azure(zone, name, client, down, expected) -> None:
    assert zone.answer(f"{name}.example.net.", "A", client, down) == expected


def test_weighted_and_multivalue(zone: Explainer) -> None:
    seen = Counter()
    for _ in range(400):
        (addr,) = zone.answer("canary.example.net.", "A", "8.8.8.8")
        seen[addr] += 1
    assert set(seen) == {"192.0.2.120", "198.51.100.120"}
    assert 0.82 < seen["192.0.2.120"] / 400 < 0.97  # weights 9 and 1
    got = zone.answer("mv.example.net.", "A", "8.8.8.8")
    assert len(got) == 2 and got <= {"192.0.2.140", "192.0.2.141", "192.0.2.142"}
