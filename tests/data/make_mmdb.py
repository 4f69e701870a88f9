"""Writes the tiny GeoIP fixtures the tests use (run: python tests/data/make_mmdb.py).

Every network below is listed in tests/data/README.md; tests read that table's facts
from here (NETWORKS, ASNS) rather than from the code under test.
"""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MmdbU32, MMDBWriter
from netaddr import IPSet

HERE = Path(__file__).resolve().parent

# network: (continent, country, subdivision iso_code or None, lat, lon)
NETWORKS: dict[str, tuple[str | None, str | None, str | None, float | None, float | None]] = {
    "81.2.69.0/24": ("EU", "GB", "ENG", 51.5, -0.13),
    "5.1.0.0/16": ("EU", "DE", "BE", 52.52, 13.4),
    "2.2.0.0/16": ("EU", "FR", None, 48.86, 2.35),
    "87.32.0.0/16": ("EU", "IE", "L", 53.35, -6.26),
    "12.0.0.0/16": ("NA", "US", "CA", 37.77, -122.42),
    "12.1.0.0/16": ("NA", "US", "NY", 40.71, -74.0),
    "24.48.0.0/16": ("NA", "CA", "ON", 43.65, -79.38),
    "1.0.16.0/20": ("AS", "JP", "13", 35.69, 139.69),
    "8.128.0.0/16": ("AS", "SG", None, 1.29, 103.85),
    "1.128.0.0/16": ("OC", "AU", "NSW", -33.87, 151.21),
    "177.0.0.0/16": ("SA", "BR", "SP", -23.55, -46.63),
    "41.0.0.0/16": ("AF", "ZA", "GP", -26.2, 28.05),
    "45.0.0.0/24": ("AN", "AQ", None, -75.0, 0.0),
    "31.0.0.0/25": ("EU", "NL", None, 52.37, 4.9),
    "31.0.0.128/25": ("EU", "BE", None, 50.85, 4.35),
    "2a01:4f8::/32": ("EU", "DE", None, 51.0, 9.0),
    "2001:db8:100::/48": ("EU", "GB", "ENG", 51.5, -0.13),
    "2400:cb00::/32": ("AS", "JP", None, 35.69, 139.69),
    "2600:1f00::/24": ("NA", "US", "NY", 40.71, -74.0),
}
NO_COUNTRY = "203.0.113.0/24"  # registered_country SE only, and a location
ASNS = {
    "81.2.69.0/24": 20712,
    "5.1.0.0/16": 3320,
    "5.1.2.0/24": 64500,  # inside 5.1.0.0/16: the intersection has prefix 24
    "12.0.0.0/15": 7018,
    "2a01:4f8::/32": 24940,
}


def city_record(continent, country, sub, lat, lon) -> dict:
    record: dict = {}
    if continent:
        record["continent"] = {"code": continent, "names": {"en": continent}}
    if country:
        record["country"] = {"iso_code": country, "names": {"en": country}}
        record["registered_country"] = {"iso_code": country}
    if sub:
        record["subdivisions"] = [{"iso_code": sub, "names": {"en": sub}}]
    if lat is not None:
        record["location"] = {"latitude": lat, "longitude": lon, "accuracy_radius": MmdbU32(50)}
    return record


def write_city(path: Path, networks: dict = NETWORKS, kind: str = "GeoIP2-City") -> None:
    """A City database of `networks` (tests that rewrite a database pass their own; `kind`
    the metadata's database_type, for a Country database of the same records)."""
    city = MMDBWriter(ip_version=6, database_type=kind, ipv4_compatible=True)
    for network, facts in networks.items():
        city.insert_network(IPSet([network]), city_record(*facts))
    city.insert_network(
        IPSet([NO_COUNTRY]),
        {
            "registered_country": {"iso_code": "SE"},
            "location": {"latitude": 59.3, "longitude": 18.1},
        },
    )
    city.to_db_file(str(path))


def main() -> None:
    write_city(HERE / "city-test.mmdb")
    asn = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    for network, number in ASNS.items():
        asn.insert_network(
            IPSet([network]),
            {
                "autonomous_system_number": MmdbU32(number),
                "autonomous_system_organization": f"AS{number}",
            },
        )
    asn.to_db_file(str(HERE / "asn-test.mmdb"))


if __name__ == "__main__":
    main()
