"""The embedded default: real GeoLite2 data (maxminddb-geolite2) routes well-known networks.

Continents and countries below were read with `mmdblookup` from the same database file,
independently of geodns.
"""

from __future__ import annotations

import dns.edns
import dns.message
import pytest

from geodns.config import demo_geoip_path
from tests.servers import REPO, ServerThread, write_config

GEOLITE2 = demo_geoip_path()
EU, US, AP = {"192.0.2.10", "192.0.2.11"}, {"198.51.100.10"}, {"203.0.113.10"}

# Answered natively or in Python: `make test` runs these again on the Python fast path
# (-m fast_path).
pytestmark = [
    pytest.mark.fast_path,
    pytest.mark.skipif(GEOLITE2 is None, reason="maxminddb-geolite2 not installed"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> ServerThread:
    tmp = tmp_path_factory.mktemp("demo")
    conf = write_config(
        tmp, REPO / "zones", dns={"listen": ["127.0.0.1:0"]}, geoip={"city": GEOLITE2}
    )
    server = ServerThread(conf).start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("subnet", "expected"),
    [
        ("81.2.69.0/24", EU),  # EU, GB (London)
        ("193.0.6.0/24", EU),  # EU, NL (RIPE NCC)
        ("2001:67c:2e8::/48", EU),  # EU, NL (RIPE NCC, IPv6)
        ("1.0.16.0/24", AP),  # AS, JP
        ("8.8.8.0/24", US),  # NA, US: default
        ("200.160.2.0/24", US),  # SA, BR: default
        ("196.216.2.0/24", US),  # AF, ZA: default
        ("1.128.0.0/24", US),  # OC, AU: default
    ],
)
def test_continents_reach_their_pools(demo: ServerThread, subnet: str, expected: set) -> None:
    q = dns.message.make_query(
        "www.gslb.example.com", "A", use_edns=0, options=[dns.edns.ECSOption.from_text(subnet)]
    )
    reply = demo.udp(q)
    assert {rd.address for rrset in reply.answer for rd in rrset} == expected
    ecs = next(o for o in reply.options if isinstance(o, dns.edns.ECSOption))
    assert 0 < ecs.scopelen <= ecs.srclen


def test_latency_picks_the_nearest_pool(demo: ServerThread) -> None:
    def ask(subnet: str) -> set[str]:
        q = dns.message.make_query(
            "api.gslb.example.com", "A", use_edns=0, options=[dns.edns.ECSOption.from_text(subnet)]
        )
        return {rd.address for rrset in demo.udp(q).answer for rd in rrset}

    assert ask("81.2.69.0/24") == EU  # London is nearest Dublin
    assert ask("8.8.8.0/24") == US  # central US is nearest Washington
    assert ask("1.0.16.0/24") == AP  # Tokyo


def test_explain_names_the_place_in_words(demo: ServerThread) -> None:
    """geoip2 reads the record for people: London is in the United Kingdom, in Europe
    (as `mmdblookup --ip 81.2.69.160 city names en` shows for this database)."""
    import json
    import urllib.request

    host, port = demo.app.http_bound
    url = f"http://{host}:{port}/api/v1/explain?name=www.gslb.example.com&client=127.0.0.1"
    with urllib.request.urlopen(url + "&ecs=81.2.69.0/24", timeout=10) as resp:
        report = json.load(resp)
    place = report["place"]
    assert place["country"] == "United Kingdom" and place["continent"] == "Europe"
    assert place.get("city") == "Willesden"  # a London borough, as the 2018 database says
