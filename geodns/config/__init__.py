"""The typed, frozen configuration: load(path) -> Config; unknown keys and bad types are errors.

sections.py holds the dataclasses, values.py the checks of one section, load.py the reading
of a file. Everything public is re-exported here: `from geodns import config as cfg`."""

from geodns.config.load import (
    embedded_default,
    from_mapping,
    load,
    read_fleet_key,
)
from geodns.config.sections import (
    Config,
    CookiesConfig,
    DnsConfig,
    DnssecConfig,
    EcsConfig,
    FleetConfig,
    FleetTls,
    GeoIPConfig,
    HttpConfig,
    LogConfig,
    ReloadConfig,
    RrlConfig,
    ZonesConfig,
    format_hostport,
    parse_hostport,
    parse_size,
)
from geodns.dns.cookies import read_secret as read_cookie_secret
from geodns.errors import Problems
from geodns.geo.locator import demo_geoip_path
from geodns.zones.yamlio import parse_duration

__all__ = [
    "Config",
    "CookiesConfig",
    "DnsConfig",
    "DnssecConfig",
    "EcsConfig",
    "FleetConfig",
    "FleetTls",
    "GeoIPConfig",
    "HttpConfig",
    "LogConfig",
    "Problems",
    "ReloadConfig",
    "RrlConfig",
    "ZonesConfig",
    "demo_geoip_path",
    "embedded_default",
    "format_hostport",
    "from_mapping",
    "load",
    "parse_duration",
    "parse_hostport",
    "parse_size",
    "read_cookie_secret",
    "read_fleet_key",
]
