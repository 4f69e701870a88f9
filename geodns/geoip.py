"""The one place that picks ECS or source address, looks GeoIP up once, caches per network."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from dataclasses import dataclass

import maxminddb

from geodns.errors import GeoIPError
from geodns.model import FAMILY_V4, FAMILY_V6, NO_FACTS, Client, GeoFacts

log = logging.getLogger("geodns.geoip")

_CANARIES = ("1.1.1.1", "81.2.69.160", "2001:4860::1")
_SPLIT = object()  # cache marker: the block holds several GeoIP networks


@dataclass(frozen=True, slots=True)
class _Db:
    path: str
    reader: object
    kind: str
    stamp: tuple[float, int, int]


def _stamp(path: str) -> tuple[float, int, int]:
    st = os.stat(path)
    return (st.st_mtime, st.st_size, st.st_ino)


def _open(path: str, slot: str) -> _Db:
    """Open and check a database for its slot; GeoIPError says exactly what is wrong."""
    try:
        stamp = _stamp(path)
        reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise GeoIPError(f"{path}: cannot open GeoIP database: {exc}") from exc
    kind = reader.metadata().database_type
    fits = "ASN" in kind if slot == "asn" else ("City" in kind or "Country" in kind)
    if not fits:
        reader.close()
        wanted = "an ASN" if slot == "asn" else "a City/Country"
        raise GeoIPError(f"{path}: not {wanted} database ({kind})")
    try:
        for canary in _CANARIES:
            reader.get_with_prefix_len(canary)
    except Exception as exc:  # a corrupt tree or data section shows up here
        reader.close()
        raise GeoIPError(f"{path}: lookup failed, database looks corrupt: {exc}") from exc
    return _Db(path, reader, kind, stamp)


class Locator:
    """City/Country (+ASN) facts per address, cached per network with a bounded size.

    The cache key is the address truncated to a block (IPv4 /24, IPv6 /56). When the
    database network holding the address covers the whole block the facts are shared by
    every address in it; when it is smaller the block is marked split and addresses are
    cached one by one. Equal facts are interned so a big cache stays small.
    """

    def __init__(
        self,
        city: _Db | None,
        asn: _Db | None,
        cache_size: int = 262144,
        block_v4: int = 24,
        block_v6: int = 56,
    ) -> None:
        self.city, self.asn = city, asn
        self.cache_size = cache_size
        self.block_v4, self.block_v6 = block_v4, block_v6
        self._blocks: dict[bytes, object] = {}
        self._hosts: dict[bytes, GeoFacts] = {}
        self._interned: dict[GeoFacts, GeoFacts] = {}
        self.cache_hits = 0
        self.cache_misses = 0

    @classmethod
    def open(cls, city: str | None, asn: str | None, cache_size: int = 262144) -> Locator:
        return cls(
            _open(city, "city") if city else None,
            _open(asn, "asn") if asn else None,
            cache_size,
        )

    @property
    def database_type(self) -> str | None:
        return self.city.kind if self.city else None

    @property
    def build_epoch(self) -> int:
        return int(self.city.reader.metadata().build_epoch) if self.city else 0

    @property
    def paths(self) -> list[str]:
        return [db.path for db in (self.city, self.asn) if db is not None]

    def facts(self, family: int, address: bytes) -> GeoFacts:
        """What GeoIP knows about a packed address; a hit costs two dict look-ups."""
        block = self.block_v4 if family == FAMILY_V4 else self.block_v6
        key = _truncate(address, block)
        found = self._blocks.get(key)
        if found is not None and found is not _SPLIT:
            self.cache_hits += 1
            return found  # type: ignore[return-value]
        if found is _SPLIT:
            host = self._hosts.get(address)
            if host is not None:
                self.cache_hits += 1
                return host
        self.cache_misses += 1
        facts = self._lookup(family, address)
        if len(self._blocks) >= self.cache_size or len(self._hosts) >= self.cache_size:
            self._blocks.clear()  # cheap and rare: no per-hit bookkeeping for an LRU
            self._hosts.clear()
            self._interned.clear()
        facts = self._interned.setdefault(facts, facts)
        if facts.prefix_len <= block:
            self._blocks[key] = facts
        else:
            self._blocks[key] = _SPLIT
            self._hosts[address] = facts
        return facts

    def _lookup(self, family: int, address: bytes) -> GeoFacts:
        # inet_ntop and int masking: ipaddress objects cost more than the lookup itself
        af = socket.AF_INET if family == FAMILY_V4 else socket.AF_INET6
        text = socket.inet_ntop(af, address)
        bits = 32 if family == FAMILY_V4 else 128
        record, prefix = None, 0
        if self.city is not None:
            record, prefix = self.city.reader.get_with_prefix_len(text)
        asn = None
        if self.asn is not None:
            asn_rec, asn_prefix = self.asn.reader.get_with_prefix_len(text)
            prefix = max(prefix, asn_prefix)
            if asn_rec:
                asn = asn_rec.get("autonomous_system_number")
        if self.city is None and self.asn is None:
            return NO_FACTS
        prefix = min(prefix, bits)
        value = (
            int.from_bytes(address, "big") >> (bits - prefix) << (bits - prefix) if prefix else 0
        )
        network = f"{socket.inet_ntop(af, value.to_bytes(bits // 8, 'big'))}/{prefix}"
        return _facts_from(record or {}, prefix, network, asn)

    def reload_if_changed(self) -> str | None:
        """Reopen changed files; swap only after every one checks out.

        Returns None when nothing changed or the new files are in use, else the reason the
        old ones were kept.
        """
        new = {}
        for slot, db in (("city", self.city), ("asn", self.asn)):
            if db is None:
                continue
            try:
                if _stamp(db.path) == db.stamp:
                    continue
                new[slot] = _open(db.path, slot)
            except (OSError, GeoIPError) as exc:
                return f"{exc}; keeping the database loaded before"
        if not new:
            return None
        self.city = new.get("city", self.city)
        self.asn = new.get("asn", self.asn)
        self._blocks.clear()
        self._hosts.clear()
        self._interned.clear()
        log.info("GeoIP database reloaded: %s", ", ".join(db.path for db in new.values()))
        return None


def _truncate(address: bytes, prefix: int) -> bytes:
    whole, rest = divmod(prefix, 8)
    if rest == 0:
        return address[:whole]
    return address[:whole] + bytes([address[whole] & (0xFF << (8 - rest)) & 0xFF])


def _facts_from(record: dict, prefix: int, network: str, asn: int | None) -> GeoFacts:
    continent = (record.get("continent") or {}).get("code")
    country = (record.get("country") or {}).get("iso_code") or (
        record.get("registered_country") or {}
    ).get("iso_code")
    subdivision = None
    subs = record.get("subdivisions")
    if subs and country and subs[0].get("iso_code"):
        subdivision = f"{country}-{subs[0]['iso_code']}"
    location = record.get("location") or {}
    return GeoFacts(
        prefix_len=prefix,
        network=network,
        continent=continent,
        country=country,
        subdivision=subdivision,
        asn=asn,
        lat=location.get("latitude"),
        lon=location.get("longitude"),
    )


def _pad(address: bytes, family: int) -> bytes:
    return address.ljust(4 if family == FAMILY_V4 else 16, b"\x00")


class ClientFactory:
    """Builds the Client a decision is made for, from ECS or the packet source, cached."""

    def __init__(
        self,
        locator: Locator,
        enabled: bool = True,
        max_source_v4: int = 24,
        max_source_v6: int = 56,
        cache_size: int = 8192,  # behind the handler's own ECS cache: only its misses come here
    ) -> None:
        self.locator = locator
        self.enabled = enabled
        self.max_v4, self.max_v6 = max_source_v4, max_source_v6
        self.cache_size = cache_size
        self._by_host: dict[str, Client] = {}
        self._by_ecs: dict[tuple[int, int, bytes], Client] = {}

    def from_source(self, host: str) -> Client:
        """The packet source; IPv4-mapped IPv6 is IPv4, a `%zone` suffix is dropped."""
        client = self._by_host.get(host)
        if client is None:
            ip = ipaddress.ip_address(host.partition("%")[0])
            if ip.version == 6 and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            family = FAMILY_V4 if ip.version == 4 else FAMILY_V6
            packed = ip.packed
            client = Client(
                packed, family, len(packed) * 8, False, self.locator.facts(family, packed)
            )
            if len(self._by_host) >= self.cache_size:
                self._by_host.clear()
            self._by_host[host] = client
        return client

    def from_ecs(self, family: int, source_prefix: int, address: bytes) -> Client:
        """An ECS client (already validated; source prefix > 0), truncated to our maximum.

        A source prefix of 0 means "decide by the packet source" and is the caller's case.
        """
        key = (family, source_prefix, address)
        client = self._by_ecs.get(key)
        if client is None:
            limit = self.max_v4 if family == FAMILY_V4 else self.max_v6
            prefix = min(source_prefix, limit)
            packed = _pad(_truncate(_pad(address, family), prefix), family)
            client = Client(packed, family, prefix, True, self.locator.facts(family, packed))
            if len(self._by_ecs) >= self.cache_size:
                self._by_ecs.clear()
            self._by_ecs[key] = client
        return client

    @staticmethod
    def scope(client: Client, decided_prefix: int) -> int:
        """The ECS scope to answer with: never longer than what the client gave us."""
        return min(decided_prefix, client.source_prefix) if client.ecs else 0
