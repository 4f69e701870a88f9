"""Policy trees compiled against the GeoIP databases: sorted, merged address ranges -> class.

Why: deciding per query means a walk of the search tree, a record decode and a policy
resolve for every client network seen for the first time (a flood of random ECS subnets
costs 9x a warm query), and the ECS scope could only be the GeoIP network's own prefix.
Compiled once per database and zone load, the first query from a network costs a binary
search, and the scope is the widest prefix around the client over which the decision
cannot change (docs/reference.md, "Zone files": ECS; gdnsd does the same).

The CONTRACT of a class: two addresses with the same class get the same decision from the
tree under every health, drain and capacity state, so a class -> answer memo is exact. A
class's key is what the tree's nodes say decides (base.classify: geo's matching rules in
order, latency's pool order, ...), computed once per distinct combination of the fields
the tree reads; equal keys get equal classes. `Compiled.client(cls)` is a representative
client of the class, which the policies resolve exactly as any other of its addresses.

Not compiled (`compile_tree` gives None; the per-query path decides): trees with a sticky
weighted node (it hashes the client network). Trees with a latency node are compiled by
their static rtt table and distance; a zone with RTTs measured at run time (steering) is
decided per query while it has them (`Compiled.rtt_zone`).

The walk, decode and merges run in geodns._native (C). Without it (no compiler, or
GEODNS_NO_NATIVE=1) geo/pyranges.py does the same in Python: identical ranges, but ~20 s
for GeoLite2-City and the example zones (a test fixture: milliseconds).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any

from geodns.geo.treecache import TreeCache, tree_key
from geodns.model import FAMILY_V4, FAMILY_V6, Client, GeoFacts, Pool
from geodns.policies import base

log = logging.getLogger("geodns.geoip")

try:
    if os.environ.get("GEODNS_NO_NATIVE"):
        raise ImportError("GEODNS_NO_NATIVE is set")
    from geodns import _native as engine  # type: ignore[attr-defined]

    NATIVE = True
except ImportError:
    from geodns.geo import pyranges as engine  # type: ignore[no-redef]

    NATIVE = False

PLACE_FIELDS = ("continent", "country", "subdivision", "lat", "lon")
NO_PLACE = (None, None, None, None, None)
_ZERO = {FAMILY_V4: bytes(4), FAMILY_V6: bytes(16)}
_WIDTH = {FAMILY_V4: 4, FAMILY_V6: 16}


class Compiled:
    """One policy tree compiled: `find(packed)` -> (class, scope), `buffers()` for the
    native path (the csrc/geo/ranges.h layout), `client(cls)` to resolve a class."""

    __slots__ = ("_buffers", "classes", "find", "ranges", "reps", "rtt_zone")

    def __init__(
        self, buffers: tuple[bytes, bytes, bytes, bytes], reps: list[Client], rtt_zone: str | None
    ) -> None:
        self._buffers = buffers
        self.ranges = engine.Ranges(*buffers)
        self.find: Callable[[bytes], tuple[int, int]] = self.ranges.find
        self.reps = reps
        self.classes = len(reps)
        self.rtt_zone = rtt_zone  # the zone whose measured RTTs, when any, bypass the classes

    def buffers(self) -> tuple[bytes, bytes, bytes, bytes]:
        """(start4, cls4, start6, cls6) as bytes: native-order uint32 starts and classes for
        IPv4, 16-byte network-order starts and uint32 classes for IPv6; keep them alive
        while C code points into them."""
        return self._buffers

    def client(self, cls: int) -> Client:
        return self.reps[cls]

    def sizes(self) -> tuple[int, int]:
        """(IPv4 ranges, IPv6 ranges) after merging."""
        return len(self._buffers[1]) // 4, len(self._buffers[3]) // 4


class Databases:
    """The walked City and ASN databases one compile shares between every tree: the
    leaves (in the engine's Tree), every distinct record's routing fields, decoded once."""

    def __init__(self, city: Any = None, asn: Any = None) -> None:
        """`city`/`asn`: geo/mmdb.Database (its buffer is the sealed snapshot map) or None."""
        self.city = _tree(city)
        self.asn = _tree(asn)
        if self.city is not None:
            index, self.places = self.city.places()
            self.place_ids = array("I", index)
        else:
            self.places, self.place_ids = [NO_PLACE], array("I", [0])
        self.asns = [None, *self.asn.asn()] if self.asn is not None else [None]
        self._projections: dict[tuple[str, ...], tuple[array, list[tuple]]] = {}

    def projection(self, fields: tuple[str, ...]) -> tuple[array, list[tuple]]:
        """(projection number per place, a place per projection) on these place fields:
        the distinct inputs a tree reading only them can see. Shared by every tree that
        reads the same fields (a zone of many geo maps pays the 134k-place loop once)."""
        found = self._projections.get(fields)
        if found is not None:
            return found
        read = [PLACE_FIELDS.index(f) for f in fields]
        getter = itemgetter(*read) if read else (lambda place: ())
        proj: dict[Any, int] = {}
        reps: list[tuple] = []
        numbers = array("I")
        for place in self.places:
            value = getter(place)
            number = proj.get(value)
            if number is None:
                number = proj[value] = len(reps)
                reps.append(place)
            numbers.append(number)
        found = self._projections[fields] = (numbers, reps)
        return found

    @classmethod
    def of(cls, locator: Any) -> Databases:
        city, asn = getattr(locator, "city", None), getattr(locator, "asn", None)
        return cls(city.tree if city else None, asn.tree if asn else None)


def _tree(db: Any) -> Any:
    if db is None:
        return None
    return engine.Tree(db.buf, db.node_count, db.record_size, db.ip_version)


def nodes(node: Any) -> Iterator[Any]:
    """Every policy node of a tree (pools left out)."""
    if isinstance(node, Pool):
        return
    yield node
    for child in node.children():
        yield from nodes(child)


def _facts(place: tuple, asn: int | None) -> GeoFacts:
    return GeoFacts(0, "", place[0], place[1], place[2], asn, place[3], place[4])


def _client(address: bytes, facts: GeoFacts) -> Client:
    family = FAMILY_V4 if len(address) == 4 else FAMILY_V6
    return Client(address, family, len(address) * 8, True, facts)


class _Probe:
    """A stand-in Client/GeoFacts, refilled per distinct input: the keys of ~10^5 places
    without building two frozen objects each (real ones are made per class only)."""

    __slots__ = (
        "address",
        "asn",
        "continent",
        "country",
        "ecs",
        "facts",
        "family",
        "lat",
        "lon",
        "network",
        "prefix_len",
        "source_prefix",
        "subdivision",
    )

    def __init__(self) -> None:
        self.prefix_len, self.network, self.ecs = 0, "", True

    def fill(self, address: bytes, place: tuple, asn: int | None) -> _Probe:
        self.address, self.family = address, FAMILY_V4 if len(address) == 4 else FAMILY_V6
        self.continent, self.country, self.subdivision, self.lat, self.lon = place
        self.asn, self.facts, self.source_prefix = asn, self, len(address) * 8
        return self


class _Keys:
    """Tree keys -> class numbers, with a representative client per class."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.ids: dict[Any, int] = {}
        self.reps: list[Client] = []
        self.probe = _Probe()

    def of(self, address: bytes, place: tuple, asn: int | None) -> int:
        key = base.classify(self.node, self.probe.fill(address, place, asn))
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.reps)
            self.reps.append(_client(address, _facts(place, asn)))
        return found


def compile_tree(node: Any, dbs: Databases) -> Compiled | None:
    """The tree's classes over both families' address space; None when it is not compiled."""
    all_nodes = list(nodes(node))
    if not all(hasattr(n, "classify") and hasattr(n, "fields") for n in all_nodes):
        return None  # a policy that does not say how to classify is decided per query
    fields = frozenset().union(*(n.fields for n in all_nodes))
    cidrs = [c for n in all_nodes for c in getattr(n, "cidrs", ())]
    asns = {a for n in all_nodes for a in getattr(n, "asn", {})} if "asn" in fields else set()
    rtt_zone = next((p.zone for n in all_nodes if "lat" in n.fields for p in base.walk(n)), None)
    keys = _Keys(node)
    try:
        keys.of(_ZERO[FAMILY_V4], NO_PLACE, None)
    except base.NotCompiled:
        return None
    if not fields and not cidrs:  # decided without the client: one class everywhere
        one = array("I", [0]).tobytes()
        return Compiled((bytes(4), one, bytes(16), one), keys.reps, rtt_zone)
    place_proj, proj_rep = dbs.projection(tuple(f for f in PLACE_FIELDS if f in fields))
    if not cidrs and not (asns and dbs.asn is not None):
        zero = _ZERO[FAMILY_V4]
        cls = array("I", [keys.of(zero, p, None) for p in proj_rep])
        place_cls = array("I", map(cls.__getitem__, place_proj))
        buffers = _classify(dbs, place_cls)
    else:
        buffers = _overlaid(keys, dbs, place_proj, proj_rep, asns, cidrs)
    return Compiled(buffers, keys.reps, rtt_zone)


def _classify(dbs: Databases, place_cls: array) -> tuple[bytes, bytes, bytes, bytes]:
    """Merged ranges from a class per distinct place (the tree maps records to places)."""
    if dbs.city is None:  # no database: every address is the one "no place"
        one = array("I", [place_cls[0]]).tobytes()
        return bytes(4), one, bytes(16), one
    return dbs.city.classify(place_cls.tobytes(), dbs.place_ids.tobytes())


def _overlaid(
    keys: _Keys,
    dbs: Databases,
    place_proj: array,
    proj_rep: list[tuple],
    asns: set[int],
    cidrs: list[Any],
) -> tuple[bytes, bytes, bytes, bytes]:
    """City projections x ASN rule matches x cidr intervals, per family, then the keys."""
    city = _classify(dbs, place_proj)
    asn_values: list[int | None] = [None]
    if asns and dbs.asn is not None:
        index = {None: 0}
        asn_cls = array("I")
        for number in dbs.asns:
            value = number if number in asns else None
            if value not in index:
                index[value] = len(asn_values)
                asn_values.append(value)
            asn_cls.append(index[value])
        asn_parts = dbs.asn.classify(asn_cls.tobytes())
    else:
        asn_parts = (bytes(4), bytes(4), bytes(16), bytes(4))
    out: list[bytes] = []
    for family, at in ((FAMILY_V4, 0), (FAMILY_V6, 2)):
        width = _WIDTH[family]
        starts, key = engine.overlay(
            width, city[at], city[at + 1], asn_parts[at], asn_parts[at + 1], len(asn_values)
        )
        reps = _intervals(family, cidrs)
        cidr_starts = b"".join(reps) if width == 16 else _u32_starts(reps)
        cidr_cls = array("I", range(len(reps))).tobytes()
        starts, key = engine.overlay(width, starts, key, cidr_starts, cidr_cls, len(reps))
        distinct = sorted(set(array("I", key)))
        table = array("I")
        for k in distinct:
            rest, interval = divmod(k, len(reps))
            proj, asn_index = divmod(rest, len(asn_values))
            table.append(keys.of(reps[interval], proj_rep[proj], asn_values[asn_index]))
        out += engine.remap(width, starts, key, array("I", distinct).tobytes(), table.tobytes())
    return out[0], out[1], out[2], out[3]


def _intervals(family: int, cidrs: Iterable[Any]) -> list[bytes]:
    """The starts of the intervals the family's cidr rules cut its space into (packed)."""
    bits = 32 if family == FAMILY_V4 else 128
    cuts = {0}
    for c in cidrs:
        if c.family == family:
            cuts.add(c.network)
            end = c.network + (1 << (bits - c.prefix))
            if end < 1 << bits:
                cuts.add(end)
    return [n.to_bytes(bits // 8, "big") for n in sorted(cuts)]


def _u32_starts(packed: list[bytes]) -> bytes:
    """IPv4 starts in the ranges' layout: native-order uint32, not network order."""
    return array("I", [int.from_bytes(p, "big") for p in packed]).tobytes()


def compile_trees(
    trees: Iterable[Any], locator: Any, cache: TreeCache | None = None
) -> dict[int, Compiled | None]:
    """id(tree) -> its Compiled (or None) for every distinct tree; logs the cost. With a
    cache, trees equal to ones compiled last time against the same databases are reused,
    and the databases are walked only if some tree is new."""
    started = time.perf_counter()
    cache = cache if cache is not None else TreeCache()
    kept = cache.begin(locator)
    dbs: Databases | None = None
    out: dict[int, Compiled | None] = {}
    reused, seen = 0, {}
    for tree in trees:
        if id(tree) in out:
            continue
        key = tree_key(tree, seen)
        hit = key in kept
        if hit:
            found = kept[key]
        else:
            dbs = dbs or Databases.of(locator)
            found = compile_tree(tree, dbs)
        reused += hit
        out[id(tree)] = found
        cache.keep(key, found)
    cache.hits += reused
    cache.misses += len(out) - reused
    compiled = [c for c in out.values() if c is not None]
    log.info(
        "GeoIP compiled for %d policy trees (%d not compilable, %d unchanged since the last "
        "compile): %d IPv4 / %d IPv6 ranges in %.2f s (%s)",
        len(compiled),
        len(out) - len(compiled),
        reused,
        sum(c.sizes()[0] for c in compiled),
        sum(c.sizes()[1] for c in compiled),
        time.perf_counter() - started,
        "native" if NATIVE else "pure Python",
    )
    return out


def _policy_answers(table: Any) -> Iterator[Any]:
    for zt in table.zones.values():
        yield from zt.policies.values()


def compile_table(
    table: Any, locator: Any, cache: TreeCache | None = None
) -> dict[int, Compiled | None]:
    """Every policy tree of a table compiled against the locator's databases (run it off
    the event loop: seconds for GeoLite2-City; with the cache, only trees that changed);
    `install` puts the result in place. A database the walk finds corrupt is logged and
    leaves every tree decided per query."""
    trees = [pa.node for pa in _policy_answers(table)]
    try:
        return compile_trees(trees, locator, cache)
    except ValueError as exc:
        log.error("GeoIP compile failed, deciding per query instead: %s", exc)
        return {}
    finally:
        _give_back(locator)


def _give_back(locator: Any) -> None:
    """Return what the compile touched: the database pages the walk mapped in (the sealed
    copy keeps them) and the C heap's free tail (glibc keeps freed memory mapped
    otherwise): ~75 MB of RSS for GeoLite2-City, which forked workers would inherit. (No
    gc.collect: tables are built with the collector paused, see teardown.gc_paused.)"""
    release = getattr(locator, "release", None)
    if release is not None:
        release()
    with contextlib.suppress(AttributeError, OSError):  # not glibc: nothing to trim so
        ctypes.CDLL(None).malloc_trim(0)


def install(table: Any, compiled: dict[int, Compiled | None]) -> None:
    """Give each policy name of the table its tree's compiled ranges (None: per query).
    Call it on the thread that answers, then drop the answer memos (their classes)."""
    for pa in _policy_answers(table):
        pa.compiled = compiled.get(id(pa.node))
