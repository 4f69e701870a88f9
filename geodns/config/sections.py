"""Every section of the configuration as a typed, frozen dataclass, with their defaults."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

from geodns.dns.updatesconf import UpdatesConfig
from geodns.health.steering import PrometheusConfig, RttConfig


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
