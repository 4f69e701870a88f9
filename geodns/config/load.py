"""Reading a config file into Config: sections checked, relative paths resolved, secrets read
once so a broken one stops `serve` and `geodns check` with its line."""

from __future__ import annotations

import os
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from geodns.config.sections import (
    Config,
    CookiesConfig,
    DnsConfig,
    DnssecConfig,
    FleetConfig,
    FleetTls,
    GeoIPConfig,
    HttpConfig,
    ZonesConfig,
)
from geodns.config.values import (
    _SECTIONS,
    _section,
)
from geodns.dns.cookies import read_secret as read_cookie_secret
from geodns.dns.updatesconf import parse as parse_updates
from geodns.errors import ConfigError, Problem, Problems, Where
from geodns.geo.locator import demo_geoip_path
from geodns.zones import yamlio


def from_mapping(raw: Any, source: str, problems: Problems | None = None) -> Config:
    """Build a Config from parsed YAML; relative paths are taken from the file's folder."""
    problems = problems if problems is not None else Problems()
    top = Where(source, 1)
    if raw is None:
        raw = yamlio.LineDict()
    if not isinstance(raw, dict):
        problems.add(top, "the config must be a mapping")
        problems.raise_if_any(ConfigError)
    sections: dict[str, Any] = {}
    zones_dir = "zones"
    tops: dict[str, str | None] = {"instance": None, "state_dir": None}
    updates: tuple[Any, Where] = (None, top)
    for key, value in raw.items():
        at = raw.at(key) if isinstance(raw, yamlio.LineDict) else top
        if key == "updates":  # nested keys and secrets: dns/updatesconf.py
            updates = (value, at)
        elif key in _SECTIONS:
            sections[key] = _section(key, value, at, problems)
        elif key == "zones_dir":
            if not isinstance(value, str) or not value:
                problems.add(at, "zones_dir: must be a path")
            else:
                zones_dir = value
        elif key in tops:
            if value is not None and (not isinstance(value, str) or not value):
                problems.add(at, f"{key}: must be a non-empty string or null")
            tops[key] = value
        else:
            known = ", ".join([*sorted([*_SECTIONS, "updates"]), "zones_dir", *tops])
            problems.add(at, f"unknown key {key!r} (known: {known})")
    base = Path(source).resolve().parent
    sections["updates"] = parse_updates(*updates, base, problems)
    problems.raise_if_any(ConfigError)
    geoip = sections.get("geoip", GeoIPConfig())
    http = sections.get("http", HttpConfig())
    sections["geoip"] = replace(geoip, city=_rel(base, geoip.city), asn=_rel(base, geoip.asn))
    sections["http"] = replace(
        http,
        token_file=_rel(base, http.token_file),
        write_token_file=_rel(base, http.write_token_file),
        read_token_file=_rel(base, http.read_token_file),
    )
    sections["cookies"] = _cookies(sections.get("cookies"), base, raw, top, problems)
    sections["fleet"] = _fleet_paths(sections.get("fleet", FleetConfig()), base)
    _check_fleet_key(sections["fleet"], raw, top, problems)
    dnssec = sections.get("dnssec", DnssecConfig())
    sections["dnssec"] = replace(dnssec, key_dir=_rel(base, dnssec.key_dir))
    state_dir, instance = _rel(base, tops["state_dir"]), tops["instance"]
    if sections.get("zones", ZonesConfig()).source == "fleet" and not (
        sections["fleet"].nats and state_dir
    ):
        at = raw.at("zones") if isinstance(raw, yamlio.LineDict) else top
        problems.add(at, "zones.source: fleet needs fleet.nats and state_dir (last versions)")
        problems.raise_if_any(ConfigError)
    return Config(
        **sections,
        zones_dir=str(_rel(base, zones_dir)),
        source=source,
        instance=instance,
        state_dir=state_dir,
    )


def _fleet_paths(fleet: FleetConfig, base: Path) -> FleetConfig:
    """The fleet's files (credentials, key_file, tls) taken from the config's folder."""
    tls = FleetTls(*(_rel(base, getattr(fleet.tls, f.name)) for f in fields(FleetTls)))
    return replace(
        fleet,
        credentials=_rel(base, fleet.credentials),
        key_file=_rel(base, fleet.key_file),
        tls=tls,
    )


def read_fleet_key(path: str) -> bytes:
    """fleet.key_file's secret (surrounding whitespace dropped); ValueError if unusable."""
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    if len(secret) < 16:
        raise ValueError(f"{path} holds {len(secret)} bytes; a shared secret needs 16 or more")
    return secret


def _check_fleet_key(fleet: FleetConfig, raw: Any, top: Where, problems: Problems) -> None:
    """A missing or short fleet.key_file stops `serve` and `geodns check` with its line."""
    if fleet.key_file is None:
        return
    try:
        read_fleet_key(fleet.key_file)
    except ValueError as exc:
        section = raw.get("fleet")
        at = section.at("key_file") if isinstance(section, yamlio.LineDict) else top
        problems.add(at, f"fleet.key_file: {exc}")
        problems.raise_if_any(ConfigError)


def _cookies(
    conf: CookiesConfig | None, base: Path, raw: Any, top: Where, problems: Problems
) -> CookiesConfig:
    """cookies.secret_file resolved from the config's folder and read once here, so a
    missing or malformed secret stops `serve` and `geodns check` with its line."""
    conf = conf or CookiesConfig()
    path = _rel(base, conf.secret_file)
    if path is not None and conf.enabled:
        try:
            read_cookie_secret(path)
        except ValueError as exc:
            section = raw.get("cookies")
            at = section.at("secret_file") if isinstance(section, yamlio.LineDict) else top
            problems.add(at, f"cookies.secret_file: {exc}")
            problems.raise_if_any(ConfigError)
    return replace(conf, secret_file=path)


def _rel(base: Path, path: str | None) -> str | None:
    return None if path is None else str((base / os.path.expanduser(path)).resolve())


def load(path: str) -> Config:
    """Read and validate a config file; ConfigError lists every problem with file:line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(Where(path), f"cannot read config: {exc.strerror}")]) from exc
    problems = Problems()
    raw = yamlio.load_or_raise(text, path, problems, ConfigError)
    return from_mapping(raw, path, problems)


def embedded_default() -> Config:
    """What `geodns serve` runs with no --config: the repo's zones and the demo GeoIP DB."""
    repo_zones = Path(__file__).resolve().parents[2] / "zones"  # geodns/config/load.py
    zones = repo_zones if repo_zones.is_dir() else Path.cwd() / "zones"
    return Config(
        dns=DnsConfig(listen=("127.0.0.1:5353", "[::1]:5353")),  # cli drops ::1 if absent
        geoip=GeoIPConfig(city=demo_geoip_path()),
        zones_dir=str(zones),
    )
