"""GeoIP facts per address: one walk of the search tree, then shared per network."""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import maxminddb

from geodns.errors import GeoIPError
from geodns.geo import mmdb, snapshot, swap_guard
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
    stamp: snapshot.Stamp  # the file as copied: a look that differs means a new file
    build_epoch: int

    @property
    def networks(self) -> int:
        """The search tree's size: a binary trie has nodes + 1 leaves, each leaf a network
        (with data or none), so this is the network count to within those left empty."""
        return self.tree.node_count


def _open(path: str, slot: str) -> _Db:
    """Copy, check and open a database for its slot; GeoIPError says exactly what is wrong.

    The file is copied into sealed private memory first (snapshot.Changing if it moved
    meanwhile); maxminddb then checks the copy (metadata, canary lookups) and our own
    reader serves it. Nothing here ever maps the operator's file.
    """
    try:
        snap = snapshot.Snapshot(path)
    except OSError as exc:
        raise GeoIPError(f"{path}: cannot open GeoIP database: {exc}") from exc
    with snap:
        try:
            reader = maxminddb.open_database(snap, maxminddb.MODE_FD)  # type: ignore[arg-type]
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise GeoIPError(f"{path}: not a valid GeoIP database: {exc}") from exc
        try:
            return _checked(reader, snap, slot)
        finally:
            reader.close()


def _checked(reader: maxminddb.Reader, snap: snapshot.Snapshot, slot: str) -> _Db:
    """The copy as a _Db, once its type fits the slot and the canaries look up."""
    path, meta = snap.name, reader.metadata()
    kind = meta.database_type
    fits = "ASN" in kind if slot == "asn" else ("City" in kind or "Country" in kind)
    if not fits:
        wanted = "an ASN" if slot == "asn" else "a City/Country"
        raise GeoIPError(f"{path}: not {wanted} database ({kind})")
    try:
        for canary in _CANARIES:
            reader.get_with_prefix_len(canary)
        tree = mmdb.Database(snap.map(), meta.node_count, meta.record_size, meta.ip_version)
    except Exception as exc:  # a corrupt tree or data section shows up here
        raise GeoIPError(f"{path}: lookup failed, database looks corrupt: {exc}") from exc
    return _Db(path, tree, kind, snap.stamp, int(meta.build_epoch))


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
        self,
        city: _Db | None,
        asn: _Db | None,
        cache_size: int = 262144,
        accept_shrink: bool = False,
        **_ignored,
    ) -> None:
        self.city, self.asn = city, asn
        self.cache_size = cache_size
        self.accept_shrink = accept_shrink  # geoip.accept_shrink: skip swap_guard.suspect
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
        # per slot: the file at the previous look, and the last file refused (see reload)
        self._looks = {slot: db.stamp for slot, db in self._slots()}
        self._refused: dict[str, snapshot.Stamp | None] = {}
        self.reload_failures = 0  # files refused by reload_if_changed: a metric
        self.refusals = swap_guard.Refusals()  # by reason, the last per slot: /api/v1/status
        self.reload_last_ok = True  # False from a refusal until a good file is swapped in

    @classmethod
    def open(
        cls,
        city: str | None,
        asn: str | None,
        cache_size: int = 262144,
        accept_shrink: bool = False,
    ) -> Locator:
        return cls(
            _open(city, "city") if city else None,
            _open(asn, "asn") if asn else None,
            cache_size,
            accept_shrink,
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

    def _slots(self) -> list[tuple[str, _Db]]:
        return [(slot, db) for slot, db in (("city", self.city), ("asn", self.asn)) if db]

    def reload_if_changed(self, settled: bool = False) -> bool:
        """Swap in each changed database once it is whole and valid; True if any was.

        Called at every poll. A changed file is tried only once it looks the same as at the
        previous call (a file still being written waits), or at once when `settled` (SIGHUP:
        the operator says it is complete). A file that changes while copied is tried again
        later; a truncated or broken one is refused once, logged, and the old data serves
        on. Every reload and refusal is logged as `GeoIP reload: ...`.
        """
        swapped = []
        for slot, db in self._slots():
            now, before = snapshot.look(db.path), self._looks.get(slot)
            self._looks[slot] = now
            known = now == db.stamp or (slot in self._refused and now == self._refused[slot])
            if known or (now != before and not settled):
                continue
            try:
                new = self._checked_swap(slot, db)
            except snapshot.Changing as exc:
                log.warning("GeoIP reload: %s; trying again at the next look", exc)
                continue
            except GeoIPError as exc:
                self._refuse(slot, db.path, exc)
                continue
            setattr(self, slot, new)
            swapped.append(new)
        if not swapped:
            return False
        self.reload_last_ok = True
        self._facts.clear()
        self._places.clear()
        self._asns.clear()
        for db in swapped:
            log.info("GeoIP reload: %s loaded (%s, built %d)", db.path, db.kind, db.build_epoch)
        return True

    def _checked_swap(self, slot: str, db: _Db) -> _Db:
        """The changed file of `slot`, opened, unless it looks wrong beside `db` serving."""
        new = _open(db.path, slot)
        why = None if self.accept_shrink else swap_guard.suspect(db, new)
        if why is not None:
            new.tree.close()
            raise swap_guard.Suspect(f"{db.path}: {why}")
        return new

    def accept(self, shrink: bool) -> None:
        """geoip.accept_shrink as reloaded: once changed, refused files get another look."""
        if shrink != self.accept_shrink:
            self.accept_shrink = shrink
            self._refused.clear()

    def _refuse(self, slot: str, path: str, exc: GeoIPError) -> None:
        """Refused once per file (not again until it changes), counted, logged, kept."""
        self._refused[slot] = self._looks[slot] = snapshot.look(path)
        self.reload_failures += 1
        self.refusals.note(slot, exc)
        self.reload_last_ok = False
        log.error("GeoIP reload: refused %s; still serving the database before", exc)

    def status(self) -> dict:
        """What /api/v1/status says of GeoIP: each database serving, the last refusals."""
        serving = {
            slot: {"path": db.path, "type": db.kind, "build_epoch": db.build_epoch}
            | {"networks": db.networks}
            for slot, db in self._slots()
        }
        return {"serving": serving, "accept_shrink": self.accept_shrink} | self.refusals.report()


def demo_geoip_path() -> str | None:
    """The GeoLite2-City file shipped by the `maxminddb-geolite2` package, if installed."""
    try:
        from _maxminddb_geolite2 import geolite2_database  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = geolite2_database()
    return str(path) if Path(path).is_file() else None
