"""What steering tells policies besides up/down: capacity factors and measured RTT tables."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from geodns.model import FAMILY_V4, Client, PoolKey


@dataclass(frozen=True, slots=True)
class PrometheusConfig:
    """`prometheus:`: where pool capacity queries run (geodns/steer/capacity.py)."""

    url: str | None = None  # e.g. http://127.0.0.1:9090; null: capacity is not polled
    interval: float = 15.0
    timeout: float = 5.0
    stale_after: float = 120.0  # a load older than this counts as no data (no shedding)


@dataclass(frozen=True, slots=True)
class RttConfig:
    """`rtt:`: measured RTTs posted to /api/v1/rtt (geodns/steer/rtt.py)."""

    half_life: float = 300.0  # EWMA: a sample this old weighs half as much as a fresh one
    expire_after: float = 3600.0  # a measurement not refreshed for this long is dropped
    max_entries: int = 100000  # per zone; beyond it the oldest are dropped


DURATIONS = ("interval", "timeout", "half_life", "expire_after")


def range_checks(section: str, values: Mapping[str, object]) -> list[tuple[str, str]]:
    """Limits the types do not say, for config.py's `prometheus:` and `rtt:` sections."""
    if section not in ("prometheus", "rtt"):
        return []
    bad = [(k, "must be positive") for k in (*DURATIONS, "stale_after") if values.get(k, 1) <= 0]
    url = values.get("url")
    if isinstance(url, str) and not url.startswith(("http://", "https://")):
        bad.append(("url", "must be an http:// or https:// URL"))
    return bad


def capacity_factor(load: float, low: float, high: float) -> float:
    """The pool's share of its weight: 1 at or below `low`, 0 at or above `high` (shed),
    linear between; to 4 places, so a load that barely moves leaves the factor (and every
    cached decision over the pool) alone."""
    if load <= low:
        return 1.0
    if load >= high:
        return 0.0
    return round((high - load) / (high - low), 4)


@dataclass(frozen=True, slots=True)
class Found:
    """The most specific measurements for one client: per pool, (ms, source) and the ECS
    scope over which that choice of sources holds."""

    costs: dict[str, tuple[float, str]]
    scope: int


class Measured:
    """One zone's measured RTTs (smoothed, unexpired), ready to look up per client.

    Keys: ("net", family, prefix, network int), ("asn", number), ("country", "GB"); values
    {pool: ms}. Network keys are looked up per prefix length present, longest first.
    """

    __slots__ = ("by_key", "prefixes")

    def __init__(self, rows: Mapping[tuple, Mapping[str, float]]) -> None:
        self.by_key: dict[tuple, dict[str, float]] = {k: dict(v) for k, v in rows.items() if v}
        lengths: dict[int, set[int]] = {1: set(), 2: set()}
        for key in self.by_key:
            if key[0] == "net":
                lengths[key[1]].add(key[2])
        self.prefixes = {fam: sorted(ls, reverse=True) for fam, ls in lengths.items()}

    def __reduce__(self) -> tuple:
        return (Measured, (self.by_key,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Measured) and other.by_key == self.by_key

    __hash__ = None  # type: ignore[assignment]

    def pools(self) -> set[str]:
        return {p for row in self.by_key.values() for p in row}

    def find(self, client: Client) -> Found | None:
        """Per pool the most specific measurement (network, then ASN, then country)."""
        costs: dict[str, tuple[float, str]] = {}
        facts = client.facts
        rows: list[tuple[tuple, str]] = []
        if facts.country:
            rows.append((("country", facts.country), f"country:{facts.country}"))
        if facts.asn is not None:
            rows.append((("asn", facts.asn), f"asn:{facts.asn}"))
        scope = facts.prefix_len
        lengths = self.prefixes[client.family]
        if lengths and client.address:
            bits = client.bits
            value = int.from_bytes(client.address.ljust(bits // 8, b"\0"), "big")
            for p in reversed(lengths):  # shortest first: longer ones override below
                net = value >> (bits - p) << (bits - p) if p else 0
                if ("net", client.family, p, net) in self.by_key:
                    rows.append((("net", client.family, p, net), _net_text(client, net, p)))
            # The longest measured prefix bounds the scope, inside a measured network or not
            # (a network next to this one, or inside it, may be measured differently).
            scope = max(scope, lengths[0])
        for key, label in rows:  # least specific first: more specific ones overwrite
            for pool, ms in self.by_key.get(key, {}).items():
                costs[pool] = (ms, label)
        if not costs:
            return Found({}, scope) if lengths else None
        return Found(costs, scope)


def _net_text(client: Client, net: int, prefix: int) -> str:
    address = ipaddress.ip_address(net.to_bytes(client.bits // 8, "big"))
    return f"network {address}/{prefix}"


def parse_client(text: str) -> tuple | None:
    """A measurement's `client`: "81.2.69.0/24" | "asn:64500" | "country:GB" -> its key."""
    text = str(text).strip()
    kind, _, value = text.partition(":")
    if kind.lower() == "asn" and value.upper().removeprefix("AS").isdigit():
        number = int(value.upper().removeprefix("AS"))
        return ("asn", number) if number < 2**32 else None
    if kind.lower() == "country" and len(value) == 2 and value.isalpha():
        return ("country", value.upper())
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    family = FAMILY_V4 if net.version == 4 else 2
    return ("net", family, net.prefixlen, int(net.network_address))


def key_text(key: tuple) -> str:
    """The inverse of parse_client, for status, persistence and explain."""
    if key[0] == "net":
        size = 4 if key[1] == FAMILY_V4 else 16
        return f"{ipaddress.ip_address(key[3].to_bytes(size, 'big'))}/{key[2]}"
    return f"{key[0]}:{key[1]}"


def changed_pools(old: Measured | None, new: Measured | None) -> set[str]:
    """Pools whose measured cost for some client moved between two tables."""
    a = old.by_key if old is not None else {}
    b = new.by_key if new is not None else {}
    out: set[str] = set()
    for key in a.keys() | b.keys():
        ra, rb = a.get(key, {}), b.get(key, {})
        out |= {p for p in ra.keys() | rb.keys() if ra.get(p) != rb.get(p)}
    return out


@dataclass(frozen=True, slots=True)
class Steering:
    """What steering adds to health: replaced on each change, parts that did not change kept
    as they were (the same objects), so a worker is sent only what moved."""

    factors: dict[PoolKey, float]  # pools below their full share; absent = 1.0
    measured: dict[str, Measured]  # zone -> its measured RTTs

    def delta(self, old: Steering | None) -> tuple | None:
        """What a holder of `old` needs to hold this: (factors or None, {zone: table or
        None (gone)}); None when nothing moved."""
        if old is self:
            return None
        before = old.measured if old is not None else {}
        zones: dict[str, Measured | None] = {
            z: t for z, t in self.measured.items() if before.get(z) is not t
        }
        zones.update({z: None for z in before if z not in self.measured})
        factors = self.factors if old is None or old.factors is not self.factors else None
        return (factors, zones) if factors is not None or zones else None


NO_STEERING = Steering({}, {})


def applied(current: Steering | None, delta: tuple | None) -> Steering:
    """`current` with a delta (Steering.delta) applied: what a worker does with a push."""
    current = current or NO_STEERING
    if delta is None:
        return current
    factors, zones = delta
    measured = dict(current.measured)
    for zone, table in zones.items():
        if table is None:
            measured.pop(zone, None)
        else:
            measured[zone] = table
    return Steering(current.factors if factors is None else factors, measured)
