"""The typed, frozen configuration: load(path) -> Config; unknown keys and bad types are errors."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from geodns.dns.cookies import read_secret as read_cookie_secret
from geodns.dns.updatesconf import UpdatesConfig
from geodns.dns.updatesconf import parse as parse_updates
from geodns.errors import ConfigError, Problem, Problems, Where
from geodns.geo.locator import demo_geoip_path
from geodns.health.steering import DURATIONS, PrometheusConfig, RttConfig, range_checks
from geodns.zones import yamlio
from geodns.zones.yamlio import parse_duration


def parse_hostport(text: str, default_port: int) -> tuple[str, int]:
    """`127.0.0.1:5353`, `[::1]:5353`, `::1` or `0.0.0.0` -> (host, port), validated."""
    text = str(text).strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        host, port = text, default_port
    ipaddress.ip_address(host)  # listen on literal addresses only: no resolver at startup
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range")
    return host, port


_SIZE = {"": 1, "b": 1, "kib": 1024, "kb": 1000, "mib": 1024**2, "mb": 1000**2}


def parse_size(value: Any) -> int:
    """`4MiB`, `512KiB`, `1MB` or a bare number of bytes -> bytes (positive)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    text = str(value).strip().lower()
    number = text.rstrip("kmib")
    unit = text[len(number) :].strip()
    if unit in _SIZE and number.strip().isdigit() and int(number) > 0:
        return int(number) * _SIZE[unit]
    raise ValueError(f"expected a size like 4MiB, 512KiB or a number of bytes, got {value!r}")


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class DnsConfig:
    listen: tuple[str, ...] = ("127.0.0.1:5353",)
    workers: int | str = 1  # an int, or "auto" (one per CPU)
    tcp_idle_timeout: float = 10.0
    tcp_max_connections: int = 1000
    tcp_message_timeout: float = 3.0  # a whole TCP message, from its first byte (or the connect)
    tcp_max_per_source: int = 16  # TCP connections from one client address (per worker); 0 = any
    tcp_write_timeout: float = 5.0  # answers a TCP client leaves unread this long: reset
    shutdown_grace: float = 5.0  # SIGTERM: how long queries in flight get to be answered
    max_udp_payload: int = 1232
    nsid: bool = False  # answer an NSID request (RFC 5001) with the instance name
    chaos: bool = True  # CH TXT id.server./hostname.bind. and version.server./version.bind.
    hide_version: bool = False  # version.server./version.bind. get REFUSED
    fast_path: str = "auto"  # UDP answered by native threads (auto | native | python)

    def endpoints(self) -> list[tuple[str, int]]:
        return [parse_hostport(item, 53) for item in self.listen]


@dataclass(frozen=True, slots=True)
class HttpConfig:
    listen: str | None = "127.0.0.1:8053"  # null disables the HTTP server
    token_file: str | None = None
    header_timeout: float = 5.0  # a request's headers, from its first byte
    body_timeout: float = 10.0  # a request body; also a response the client stops reading
    idle_timeout: float = 30.0  # a keep-alive connection with no request
    max_connections: int = 256  # API connections beyond this are closed at once
    # /healthz and /readyz alone on their own listener (ops/probefront.py): never starved
    # by the API's connection cap. null = the probes are on `listen` only.
    probe_listen: str | None = None
    write_token_file: str | None = None  # bearer token for zone writes (None: token_file)
    read_token_file: str | None = None  # when set, reading zone documents needs its token
    max_body: int = 4 * 1024 * 1024  # request bodies above this get 413 (`4MiB`, `512KiB`)


@dataclass(frozen=True, slots=True)
class GeoIPConfig:
    city: str | None = None
    asn: str | None = None
    cache_size: int = 262144  # networks remembered; bounds memory
    # A changed file of another type (City/Country) or with under half the networks of the
    # one serving is refused (geo/swap_guard.py) unless this says it is meant.
    accept_shrink: bool = False


@dataclass(frozen=True, slots=True)
class EcsConfig:
    enabled: bool = True
    max_source_v4: int = 24
    max_source_v6: int = 56


@dataclass(frozen=True, slots=True)
class ReloadConfig:
    watch: bool = True
    poll_interval: float = 2.0  # how often watched files are looked at


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "info"
    format: str = "text"
    queries: bool = False
    query_sample: float = 1.0  # fraction of queries logged when `queries` is on
    dnstap: str | None = None  # `dnstap: {socket: PATH}`: frame streams to that unix socket


@dataclass(frozen=True, slots=True)
class RrlConfig:
    """Response rate limiting (dns/rrl.py); responses_per_second 0 turns it off."""

    responses_per_second: int = 0
    nxdomains_per_second: int | None = None  # None: responses_per_second
    errors_per_second: int | None = None  # None: responses_per_second
    window: float = 15.0
    slip: int = 2  # every Nth limited response goes out truncated; 0 = drop them all
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56
    exempt: tuple[str, ...] = ()  # client networks never limited
    log_only: bool = False
    all_per_second: int = 0  # every response to one client network, per second; 0 = none

    def rates(self) -> tuple[int, int, int]:
        """Per second for answers, NXDOMAIN and errors (dns/rrl.py's kinds, in order)."""
        rps = self.responses_per_second
        nx, err = self.nxdomains_per_second, self.errors_per_second
        return rps, rps if nx is None else nx, rps if err is None else err


@dataclass(frozen=True, slots=True)
class CookiesConfig:
    """DNS COOKIE server side (dns/cookies.py)."""

    enabled: bool = True
    secret_file: str | None = None  # 32 hex digits shared by a fleet; None: random at start


@dataclass(frozen=True, slots=True)
class FleetTls:
    """fleet.tls: mutual TLS to NATS (our CA for the servers, our certificate for them)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """The fleet bus (geodns/fleet): NATS JetStream key-value shared by every instance."""

    nats: tuple[str, ...] = ()  # server URLs; empty: no fleet, each instance on its own
    bucket: str = "geodns"
    credentials: str | None = None  # a NATS .creds file, an NKey seed (.nk), a token/password
    user: str | None = None  # NATS user name: `credentials` then holds its password
    quorum: str | int = "majority"  # majority | N | "P%" (up while P% of fresh see it up)
    stale_after: float = 30.0  # an instance not heard from for this long does not vote
    replicas: int = 3  # the bucket's stream replicas (1: a single NATS node, warned)
    key_file: str | None = None  # shared secret: every bus entry is signed (HMAC) with it
    max_skew: float = 30.0  # entries dated further ahead of our clock are rejected
    tls: FleetTls = field(default_factory=FleetTls)


@dataclass(frozen=True, slots=True)
class DnssecConfig:
    """Online signing: a zone with key files for it in key_dir is signed (docs/dnssec.md)."""

    key_dir: str | None = None  # BIND-format K<zone>+<alg>+<tag> files; None: per zone only


@dataclass(frozen=True, slots=True)
class ZonesConfig:
    """Where zone content lives (zones/store.py, fleet/content.py): files or the fleet bus."""

    source: str = "files"  # files: zones_dir is the truth; fleet: the bus, zones_dir seeds
    history: int = 50  # versions kept per zone (the bus keeps at most 64)


@dataclass(frozen=True, slots=True)
class Config:
    dns: DnsConfig = field(default_factory=DnsConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    geoip: GeoIPConfig = field(default_factory=GeoIPConfig)
    ecs: EcsConfig = field(default_factory=EcsConfig)
    zones_dir: str = "zones"
    reload: ReloadConfig = field(default_factory=ReloadConfig)
    log: LogConfig = field(default_factory=LogConfig)
    rrl: RrlConfig = field(default_factory=RrlConfig)
    cookies: CookiesConfig = field(default_factory=CookiesConfig)
    source: str | None = None  # the file this came from; None for the embedded default
    fleet: FleetConfig = field(default_factory=FleetConfig)
    instance: str | None = None  # this server's name (logs, User-Agent, fleet); None: hostname
    state_dir: str | None = None  # drains and last verdicts kept across restarts
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)  # pool capacity
    rtt: RttConfig = field(default_factory=RttConfig)  # measured RTTs: smoothing, expiry
    dnssec: DnssecConfig = field(default_factory=DnssecConfig)
    zones: ZonesConfig = field(default_factory=ZonesConfig)  # where zone content lives
    updates: UpdatesConfig = field(default_factory=UpdatesConfig)  # RFC 2136 UPDATE (TSIG)

    def instance_name(self) -> str:
        """`instance`, or the hostname when it is not set."""
        return self.instance or socket.gethostname()


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
    repo_zones = Path(__file__).resolve().parent.parent / "zones"
    zones = repo_zones if repo_zones.is_dir() else Path.cwd() / "zones"
    return Config(
        dns=DnsConfig(listen=("127.0.0.1:5353", "[::1]:5353")),  # cli drops ::1 if absent
        geoip=GeoIPConfig(city=demo_geoip_path()),
        zones_dir=str(zones),
    )
