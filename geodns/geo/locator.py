"""GeoIP facts per address: one walk of the search tree, then shared per network."""

from __future__ import annotations

import logging
import os
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import maxminddb

from geodns.errors import GeoIPError
from geodns.geo import mmdb
from geodns.model import NO_FACTS, GeoFacts

if TYPE_CHECKING:
    from geodns.geo.ecs import ClientFactory

log = logging.getLogger("geodns.geoip")

_CANARIES = ("1.1.1.1", "81.2.69.160", "2001:4860::1")
NO_PLACE = (None, None, None, None, None)
MAX_TABLE = 65536
RELEASE_EVERY = 512  # tree lookups between dropping the mapped pages (bounds file RSS)


@dataclass(frozen=True, slots=True)
class _Db:
    path: str
    tree: mmdb.Database
    kind: str
    stamp: tuple[float, int, int]
    build_epoch: int


def _stamp(path: str) -> tuple[float, int, int]:
    st = os.stat(path)
    return (st.st_mtime, st.st_size, st.st_ino)


def _open(path: str, slot: str) -> _Db:
    """Open and check a database for its slot; GeoIPError says exactly what is wrong.

    maxminddb checks the file (metadata, canary lookups); our own reader then serves it.
    """
    try:
        stamp = _stamp(path)
        reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise GeoIPError(f"{path}: cannot open GeoIP database: {exc}") from exc
    try:
        meta = reader.metadata()
        kind = meta.database_type
        fits = "ASN" in kind if slot == "asn" else ("City" in kind or "Country" in kind)
        if not fits:
            wanted = "an ASN" if slot == "asn" else "a City/Country"
            raise GeoIPError(f"{path}: not {wanted} database ({kind})")
        try:
            for canary in _CANARIES:
                reader.get_with_prefix_len(canary)
            tree = mmdb.Database(path, meta.node_count, meta.record_size, meta.ip_version)
        except GeoIPError:
            raise
        except Exception as exc:  # a corrupt tree or data section shows up here
            raise GeoIPError(f"{path}: lookup failed, database looks corrupt: {exc}") from exc
    finally:
        reader.close()
    return _Db(path, tree, kind, stamp, int(meta.build_epoch))


class Locator:
    """City/Country (+ASN) facts per address: one walk of the search tree, then shared.

    Facts are interned per (city record, ASN record, prefix length): every address of a
    GeoIP network, and every network with the same record and length, gets the same
    GeoFacts object, so callers may cache decisions by its identity. Records are decoded
    once (only the fields decisions use). Bounded: past min(cache_size, MAX_TABLE) entries
    a table starts afresh, and the database's mapped pages are dropped every RELEASE_EVERY
    walks.
    """

    def __init__(
        self, city: _Db | None, asn: _Db | None, cache_size: int = 262144, **_ignored
    ) -> None:
        self.city, self.asn = city, asn
        self.cache_size = cache_size
        # interning tables: past this they start afresh (only sharing is lost); ~200 B an
        # entry, so at most ~13 MB each whatever geoip.cache_size says
        self._table_size = min(cache_size, MAX_TABLE)
        self._facts: dict[int, GeoFacts] = {}
        self._places: dict[int, tuple] = {}
        self._asns: dict[int, int | None] = {}
        self._hits = 0
        self.cache_misses = 0
        self._walks = 0
        self._factories: weakref.WeakSet[ClientFactory] = weakref.WeakSet()  # see watch_hits

    @classmethod
    def open(cls, city: str | None, asn: str | None, cache_size: int = 262144) -> Locator:
        return cls(
            _open(city, "city") if city else None,
            _open(asn, "asn") if asn else None,
            cache_size,
        )

    @property
    def cache_hits(self) -> int:
        """Facts found without decoding a record, here or in a client cache in front."""
        return self._hits + sum(f.hits for f in self._factories)

    def watch_hits(self, factory: ClientFactory) -> None:
        """Count a client factory's cache hits as ours: facts it found without asking."""
        self._factories.add(factory)

    @property
    def database_type(self) -> str | None:
        return self.city.kind if self.city else None

    @property
    def build_epoch(self) -> int:
        return self.city.build_epoch if self.city else 0

    @property
    def paths(self) -> list[str]:
        return [db.path for db in (self.city, self.asn) if db is not None]

    def facts(self, family: int, address: bytes) -> GeoFacts:
        """What GeoIP knows about a packed address (4 or 16 bytes)."""
        city, asn = self.city, self.asn
        if city is None and asn is None:
            return NO_FACTS
        city_rec = asn_rec = mmdb.EMPTY
        prefix = 0
        if city is not None:
            city_rec, prefix = city.tree.lookup(address)
        if asn is not None:
            asn_rec, asn_prefix = asn.tree.lookup(address)
            prefix = max(prefix, asn_prefix)
        self._walks += 1
        if self._walks >= RELEASE_EVERY:
            self.release()
        key = (city_rec + 1) << 72 | (asn_rec + 1) << 8 | prefix  # EMPTY is -1
        found = self._facts.get(key)
        if found is not None:
            self._hits += 1
            return found
        self.cache_misses += 1
        if len(self._facts) >= self._table_size:
            self._facts.clear()  # cheap and rare: no per-hit bookkeeping for an LRU
        continent, country, subdivision, lat, lon = self._place(city_rec)
        asn_number = self._asn(asn_rec)
        facts = GeoFacts(prefix, "", continent, country, subdivision, asn_number, lat, lon)
        self._facts[key] = facts
        return facts

    def _place(self, rec: int) -> tuple:
        if rec == mmdb.EMPTY or self.city is None:
            return NO_PLACE
        place = self._places.get(rec)
        if place is None:
            if len(self._places) >= self._table_size:
                self._places.clear()
            place = self._places[rec] = self.city.tree.city(rec)
        return place

    def _asn(self, rec: int) -> int | None:
        if rec == mmdb.EMPTY or self.asn is None:
            return None
        if rec not in self._asns:
            if len(self._asns) >= self._table_size:
                self._asns.clear()
            self._asns[rec] = self.asn.tree.asn(rec)
        return self._asns[rec]

    def release(self) -> None:
        """Let go of the database pages this process maps (they stay in the page cache)."""
        self._walks = 0
        for db in (self.city, self.asn):
            if db is not None:
                db.tree.release()

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
        self._facts.clear()
        self._places.clear()
        self._asns.clear()
        log.info("GeoIP database reloaded: %s", ", ".join(db.path for db in new.values()))
        return None
