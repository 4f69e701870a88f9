"""Frozen types shared by every layer: client facts, checks, health seams."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

# ECS (RFC 7871) address family codes; also how a Client says which family it is.
FAMILY_V4 = 1
FAMILY_V6 = 2


@dataclass(frozen=True, slots=True)
class GeoFacts:
    """What the GeoIP database says about one network; shared by every address in it.

    `prefix_len` is the length of the database network holding the looked-up address,
    in that address's own family (0-32 for IPv4, 0-128 for IPv6). It bounds the ECS
    scope of any answer that depends on these facts.
    """

    prefix_len: int
    network: str = ""  # "81.2.68.0/23", for explain and logs
    continent: str | None = None  # "EU"
    country: str | None = None  # "GB" (ISO 3166-1 alpha-2)
    subdivision: str | None = None  # "GB-ENG" (ISO 3166-2: country-code)
    asn: int | None = None
    lat: float | None = None
    lon: float | None = None

    @property
    def known(self) -> bool:
        return self.country is not None or self.continent is not None or self.asn is not None


NO_FACTS = GeoFacts(prefix_len=0)
# What an ECS option with source prefix 0 maps to: "decide by the packet source".
FROM_SOURCE = GeoFacts(prefix_len=0, network="the packet source")


@dataclass(frozen=True, slots=True)
class Client:
    """The address a decision is made for, where it came from, and what GeoIP knows of it.

    `address` is packed (4 or 16 bytes). For ECS it is the option's address with the
    bits past `source_prefix` cleared; otherwise the packet source, with
    `source_prefix` the full length (32 or 128). IPv4-mapped IPv6 sources are IPv4.
    """

    address: bytes
    family: int  # FAMILY_V4 or FAMILY_V6
    source_prefix: int
    ecs: bool
    facts: GeoFacts = NO_FACTS

    @property
    def bits(self) -> int:
        return 32 if self.family == FAMILY_V4 else 128

    def with_network(self) -> Client:
        """This client with `facts.network` filled in ("81.2.68.0/23") for explain and logs;
        cached facts leave it empty, as they are shared by many networks."""
        facts = self.facts
        if facts.network or not self.address:
            return self
        prefix = min(facts.prefix_len, self.bits)
        value = int.from_bytes(self.address.ljust(self.bits // 8, b"\0"), "big")
        value = value >> (self.bits - prefix) << (self.bits - prefix) if prefix else 0
        packed = value.to_bytes(self.bits // 8, "big")
        text = str(ipaddress.ip_address(packed))
        return replace(self, facts=replace(facts, network=f"{text}/{prefix}"))


# A pool member is named by (zone, pool, address) everywhere: health, metrics, the API.
MemberKey = tuple[str, str, str]
# A pool is named by (zone, pool): the unit of health generations.
PoolKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """How to probe a pool member. Durations are in seconds."""

    type: str  # "http" | "https" | "tcp"
    port: int
    path: str = "/"
    host: str | None = None  # Host header / TLS server name
    expect: tuple[int, ...] = (200,)
    contains: str | None = None  # the body (first 64 KiB) must hold this
    tls_verify: bool = True
    interval: float = 5.0
    timeout: float = 2.0
    rise: int = 2
    fall: int = 3
    target: str | None = None  # another address, "host:port" or URL to probe instead


class HealthView(Protocol):
    """What policies may know of health: read-only, cheap, never blocking.

    `generation` changes whenever any member's effective state changes;
    `pool_generation(pool)` only when one of that pool's members changes, so a cache of
    decisions over a few pools stays good while other pools flap.
    """

    @property
    def generation(self) -> int: ...

    def is_up(self, member: MemberKey) -> bool: ...

    def pool_generation(self, pool: PoolKey) -> int: ...

    def capacity(self, pool: PoolKey) -> float:
        """The pool's capacity factor (steering): 1 = its full share, 0 = shed."""
        ...

    def capacity_note(self, pool: PoolKey) -> str:
        """Why the pool has its factor, for explain ("" when nothing to say)."""
        ...

    def measured(self, zone: str) -> Any:
        """The zone's RTTs measured at run time (steer/rtt.py Measured), or None."""
        ...


class AllUp:
    """The health view before any checker runs (and for zones without checks); the base of
    every other view, so each declares the whole HealthView and policies never probe it."""

    generation = 0

    def is_up(self, member: MemberKey) -> bool:
        return True

    def pool_generation(self, pool: PoolKey) -> int:
        return 0

    def capacity(self, pool: PoolKey) -> float:
        return 1.0

    def capacity_note(self, pool: PoolKey) -> str:
        return ""

    def measured(self, zone: str) -> Any:
        return None


class Clock(Protocol):
    def __call__(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RRSet:
    """Records of one type at one name, with RDATA already in wire form.

    `targets` holds the lower-cased wire names an RDATA points at (CNAME, NS, MX, SRV
    targets), so the table can chase CNAMEs and find glue without re-parsing.
    """

    rtype: int
    ttl: int
    rdatas: tuple[bytes, ...]
    texts: tuple[str, ...]
    targets: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class CapacitySpec:
    """A pool's `capacity:`: a PromQL query giving its load, full share at or below `low`,
    none at or above `high` (shed), linear between (geodns/steer/capacity.py polls it)."""

    query: str
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Pool:
    """A named set of endpoints; answers carry its healthy addresses of the queried family."""

    zone: str
    name: str
    addresses: tuple[str, ...]
    location: tuple[float, float] | None = None
    check: CheckSpec | None = None
    min_healthy: int | str | None = None  # N or "50%": drains may not leave fewer up
    capacity: CapacitySpec | None = None  # load-aware share (steering); None: health only
    _members: tuple[MemberKey, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = tuple((self.zone, self.name, a) for a in self.addresses)
        object.__setattr__(self, "_members", keys)  # asked on every uncached decision

    def members(self) -> tuple[MemberKey, ...]:
        return self._members


@dataclass(frozen=True, slots=True)
class Zone:
    """One zone as loaded from its file: names are lower-cased wire bytes.

    `policies` maps a name to its policy node (the root of a tree whose leaves are
    Pools); the table compiles those, zonefile only parses them.
    """

    origin: bytes
    origin_text: str
    source: str
    ttl: int
    serial: int
    soa_ttl: int
    soa_rdata: bytes
    soa_minimum: int
    rrsets: dict[bytes, dict[int, RRSet]]
    policies: dict[bytes, object]
    policy_ttls: dict[bytes, int]
    pools: dict[str, Pool]
    content_hash: str = ""
    serial_auto: bool = False  # `serial: auto`: the fleet may agree on another serial
    dnssec_keys: str | None = None  # `dnssec: {keys: DIR}`: sign with the keys there
