"""Checking one section's values: types, durations, sizes, choices and ranges, each problem
with its file and line."""

from __future__ import annotations

import ipaddress
from dataclasses import fields
from typing import Any

from geodns.config.sections import (
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
    parse_hostport,
    parse_size,
)
from geodns.errors import Problems, Where
from geodns.health.steering import DURATIONS, PrometheusConfig, RttConfig, range_checks
from geodns.zones import yamlio
from geodns.zones.yamlio import parse_duration

_SECTIONS = {
    "dns": DnsConfig,
    "http": HttpConfig,
    "geoip": GeoIPConfig,
    "ecs": EcsConfig,
    "reload": ReloadConfig,
    "log": LogConfig,
    "rrl": RrlConfig,
    "cookies": CookiesConfig,
    "fleet": FleetConfig,
    "prometheus": PrometheusConfig,
    "rtt": RttConfig,
    "dnssec": DnssecConfig,
    "zones": ZonesConfig,
}
_DURATION_KEYS = {
    *("window", "tcp_idle_timeout", "tcp_message_timeout", "shutdown_grace", "poll_interval"),
    "tcp_write_timeout",
    *("stale_after", "max_skew", "header_timeout", "body_timeout", "idle_timeout", *DURATIONS),
}
_CHOICES = {"level": ("debug", "info", "warning", "error"), "format": ("text", "json")}


def _check_value(cls: type, key: str, value: Any) -> Any:
    """Coerce one value to the field's type or raise ValueError saying what was expected."""
    if key in _DURATION_KEYS:
        return parse_duration(value)
    if cls is FleetConfig and key in ("nats", "quorum", "tls"):
        return _fleet_value(key, value)
    if cls is RrlConfig and key in ("nxdomains_per_second", "errors_per_second", "exempt"):
        return _rrl_value(key, value)
    if cls is LogConfig and key == "dnstap":  # {socket: PATH} (null: off)
        return _dnstap_value(value)
    if key == "max_body":
        return parse_size(value)
    if cls is ZonesConfig and key == "source" and value not in ("files", "fleet"):
        raise ValueError(f"must be files or fleet, got {value!r}")
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise ValueError(f"must be one of {', '.join(_CHOICES[key])}, got {value!r}")
        return value
    default = {f.name: f.default for f in fields(cls)}[key]
    if cls is DnsConfig and key == "listen":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise ValueError("must be an address or a non-empty list of addresses")
        for item in items:
            parse_hostport(item, 53)
        return tuple(str(i) for i in items)
    if cls is DnsConfig and key == "workers":
        if value == "auto" or (
            isinstance(value, int) and not isinstance(value, bool) and value > 0
        ):
            return value
        raise ValueError(f"must be a positive integer or 'auto', got {value!r}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"must be a non-negative integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, got {value!r}")
        value = float(value)
    elif value is not None and not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _rrl_value(key: str, value: Any) -> Any:
    """The rrl keys whose type the default does not say: optional rates, CIDR lists."""
    if key == "exempt":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError("must be a list of networks (CIDR)")
        return tuple(str(ipaddress.ip_network(str(i), strict=False)) for i in items)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise ValueError(f"must be a non-negative integer or null, got {value!r}")


def _dnstap_value(value: Any) -> str | None:
    """log.dnstap: {socket: PATH}, the unix socket a dnstap reader (fstrm_capture) listens
    on; the path of the socket is what the config holds."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"socket"} or not value["socket"]:
        raise ValueError("must be {socket: PATH} (a unix socket a dnstap reader listens on)")
    path = str(value["socket"])
    if len(path.encode()) >= 108:
        raise ValueError(f"socket path {path!r} is too long for a unix socket (108 bytes)")
    return path


def _fleet_value(key: str, value: Any) -> Any:
    """fleet.nats (a URL or a list of them), fleet.quorum (majority, a count or a
    percentage) and fleet.tls (a mapping of three optional paths)."""
    if key == "nats":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and "://" in i for i in items):
            raise ValueError("must be a NATS URL or a list of them (nats://host:port)")
        return tuple(items)
    if key == "tls":
        known = {f.name for f in fields(FleetTls)}
        if not isinstance(value, dict) or not set(value) <= known:
            raise ValueError(f"must be a mapping of {', '.join(sorted(known))}")
        if not all(v is None or isinstance(v, str) for v in value.values()):
            raise ValueError("paths must be strings")
        return FleetTls(**value)
    if value == "majority" or (type(value) is int and value > 0):
        return value
    percent = isinstance(value, str) and value.endswith("%") and value[:-1].isdigit()
    if percent and 0 < int(value[:-1]) <= 100:
        return value
    raise ValueError(f"must be 'majority', a positive integer or 'P%' (1-100), got {value!r}")


def _range_checks(section: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    """Cross-field limits that the type alone does not say."""
    bad: list[tuple[str, str]] = []
    if section == "dns" and not 512 <= values.get("max_udp_payload", 1232) <= 65535:
        bad.append(("max_udp_payload", "must be between 512 and 65535"))
    if section == "dns" and values.get("fast_path", "auto") not in ("auto", "native", "python"):
        bad.append(("fast_path", "must be one of auto, native, python"))
    for key in ("tcp_message_timeout", "tcp_write_timeout"):
        if section == "dns" and values.get(key, 1.0) <= 0:
            bad.append((key, "must be positive"))
    if section == "ecs":
        if not 0 <= values.get("max_source_v4", 24) <= 32:
            bad.append(("max_source_v4", "must be between 0 and 32"))
        if not 0 <= values.get("max_source_v6", 56) <= 128:
            bad.append(("max_source_v6", "must be between 0 and 128"))
    if section == "rrl":
        for key, top in (("ipv4_prefix", 32), ("ipv6_prefix", 128), ("slip", 10)):
            if not 0 <= values.get(key, 0) <= top:
                bad.append((key, f"must be between 0 and {top}"))
        if values.get("window", 1.0) <= 0:
            bad.append(("window", "must be positive"))
    if section == "zones" and not 1 <= values.get("history", 50) <= 64:
        bad.append(("history", "must be between 1 and 64 (the bus keeps at most 64)"))
    if section == "fleet" and not 1 <= values.get("replicas", 3) <= 5:
        bad.append(("replicas", "must be between 1 and 5 (a JetStream stream's limit)"))
    if section == "log" and not 0.0 <= values.get("query_sample", 1.0) <= 1.0:
        bad.append(("query_sample", "must be between 0 and 1"))
    if section == "http":
        for key in ("header_timeout", "body_timeout", "idle_timeout", "max_connections"):
            if key in values and values[key] <= 0:
                bad.append((key, "must be positive"))
    for key in ("listen", "probe_listen"):
        if section == "http" and values.get(key) is not None:
            try:
                parse_hostport(values[key], 8053)
            except ValueError as exc:
                bad.append((key, str(exc)))
    return bad + range_checks(section, values)


def _section(name: str, raw: Any, where: Where, problems: Problems) -> Any:
    cls = _SECTIONS[name]
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        problems.add(where, f"{name}: must be a mapping")
        return cls()
    known = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        at = raw.at(key) if isinstance(raw, yamlio.LineDict) else where
        if key not in known:
            problems.add(at, f"{name}: unknown key {key!r} (known: {', '.join(sorted(known))})")
            continue
        try:
            values[key] = _check_value(cls, key, value)
        except (ValueError, TypeError) as exc:
            problems.add(at, f"{name}.{key}: {exc}")
    for key, message in _range_checks(name, values):
        at = raw.at(key) if isinstance(raw, yamlio.LineDict) else where
        problems.add(at, f"{name}.{key}: {message}")
        values.pop(key, None)
    return cls(**values)
