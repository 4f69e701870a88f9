"""A compiled tree's classes split by the networks its zone has measured RTTs for.

Why: a latency tree ranks pools by RTTs measured per client network (POST /api/v1/rtt),
which the GeoIP classes do not know; deciding per query meant a GeoIP lookup and a
policy walk for every query (and no native answer). Measured networks are few and CIDR
(nested or disjoint), so cutting the address space at their edges gives intervals each
covered by one chain of networks, the same costs for every address in it. A class of the
split is (GeoIP class, that chain): the GeoIP class's own where no network is measured,
a new class (with a representative address inside both) where one is. Lookups are two
binary searches (the tree's ranges, then the measured intervals, both the layout of
csrc/geo/ranges.h), and the ECS scope the widest prefix inside both ranges, never wider
than the longest measured prefix (a neighbour measured differently never shares it).

Measurements by ASN or country cut across the GeoIP classes of a tree that does not read
those fields: a zone that has any is decided per query (`split` gives None); so is one
with more than MAX_NETWORKS measured networks, whose split (rebuilt on every change of the
measurements, and its classes decided again on every health change) would stall a
worker's event loop for seconds.
"""

from __future__ import annotations

import bisect
import struct
from array import array
from typing import Any

from geodns.model import FAMILY_V4, FAMILY_V6, Client

_BITS = {FAMILY_V4: 32, FAMILY_V6: 128}
MAX_NETWORKS = 10000  # measured networks a split holds (beyond: decided per query)


class Split:
    """`find(packed)` -> (class, scope) as Compiled.find; `reps` the representative client
    of every class (the tree's own first); `native()` the overlay for geodns._native."""

    __slots__ = ("_native", "compiled", "find_overlay", "floors", "pairs", "reps")

    def __init__(self, compiled: Any, overlay: tuple, pairs: dict, reps: list, floors: dict):
        from geodns.geo.compiled import engine  # the Ranges type Compiled.find uses

        self.compiled = compiled
        self.find_overlay = engine.Ranges(*overlay).find
        self.pairs = pairs  # (interval group, GeoIP class) -> class
        self.reps = reps
        self.floors = floors
        keys = sorted(pairs)
        self._native = (
            *overlay,
            struct.pack(f"={len(keys)}Q", *(k << 32 | c for k, c in keys)),
            struct.pack(f"={len(keys)}I", *(pairs[key] for key in keys)),
            floors[FAMILY_V4],
            floors[FAMILY_V6],
        )

    def find(self, packed: bytes) -> tuple[int, int]:
        cls, scope = self.compiled.find(packed)
        group, inside = self.find_overlay(packed)
        floor = self.floors[FAMILY_V4 if len(packed) == 4 else FAMILY_V6]
        scope = max(scope, inside, floor)
        return (self.pairs[(group, cls)] if group else cls), scope

    def native(self) -> tuple:
        """(start4, group4, start6, group6, pair keys, pair classes, floor4, floor6): the
        measured intervals (csrc/geo/ranges.h layout, group 0: none measured), the sorted
        uint64 keys group << 32 | GeoIP class with their uint32 classes, the scope floors."""
        return self._native


class Splits:
    """The split of each compiled tree by its zone's current measurements: made on first
    use, made again when the measurements change (a new Measured object)."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[int, tuple] = {}

    def get(self, compiled: Any, measured: Any) -> Split | None:
        held = self._held.get(id(compiled))
        if held is not None and held[0] is compiled and held[1] is measured:
            return held[2]
        found = split(compiled, measured)
        if len(self._held) >= 4096:  # trees of tables long replaced
            self._held.clear()
        self._held[id(compiled)] = (compiled, measured, found)
        return found


def split(compiled: Any, measured: Any) -> Split | None:
    """The split of `compiled` by `measured` (health/steering.py Measured), or None when a
    measurement names an ASN or a country (those trees are decided per query)."""
    if len(measured.by_key) > MAX_NETWORKS or any(k[0] != "net" for k in measured.by_key):
        return None
    start4, cls4, start6, cls6 = compiled.buffers()
    geo = {
        FAMILY_V4: (list(array("I", start4)), array("I", cls4)),
        FAMILY_V6: (
            [int.from_bytes(start6[i : i + 16], "big") for i in range(0, len(start6), 16)],
            array("I", cls6),
        ),
    }
    reps, pairs, overlay, floors = list(compiled.reps), {}, {}, {}
    for family in (FAMILY_V4, FAMILY_V6):
        nets = [(k[2], k[3]) for k in measured.by_key if k[1] == family]
        floors[family] = max((p for p, _ in nets), default=0)
        starts, groups = _intervals(nets, _BITS[family])
        overlay[family] = (starts, groups)
        _pair(compiled, geo[family], family, starts, groups, pairs, reps)
    (s4, g4), (s6, g6) = overlay[FAMILY_V4], overlay[FAMILY_V6]
    buffers = (
        struct.pack(f"={len(s4)}I", *s4),
        struct.pack(f"={len(g4)}I", *g4),
        b"".join(s.to_bytes(16, "big") for s in s6),
        struct.pack(f"={len(g6)}I", *g6),
    )
    return Split(compiled, buffers, pairs, reps, floors)


def _intervals(nets: list[tuple[int, int]], bits: int) -> tuple[list[int], list[int]]:
    """Starts and group numbers of the intervals the networks cut the family into: each
    group one chain of covering networks (0: none), adjacent intervals never equal."""
    top = 1 << bits
    nets = set(nets)
    edges = {0}
    for prefix, net in nets:
        edges.add(net)
        end = net + (1 << (bits - prefix))
        if end < top:
            edges.add(end)
    lengths = sorted({prefix for prefix, _ in nets})
    chains: dict[frozenset, int] = {frozenset(): 0}
    starts: list[int] = []
    groups: list[int] = []
    for at in sorted(edges):  # the networks holding `at`: one lookup per measured length
        held = ((p, at >> (bits - p) << (bits - p)) for p in lengths)
        chain = frozenset(key for key in held if key in nets)
        group = chains.setdefault(chain, len(chains))
        if not groups or groups[-1] != group:
            starts.append(at)
            groups.append(group)
    return starts, groups


def _pair(compiled, geo, family, starts, groups, pairs, reps) -> None:
    """A class for each (group, GeoIP class) that meets, its representative a client of
    that GeoIP class at the first address where they meet."""
    gstarts, gcls = geo
    top = 1 << _BITS[family]
    for i, group in enumerate(groups):
        if not group:
            continue
        lo, hi = starts[i], (starts[i + 1] if i + 1 < len(starts) else top)
        at = bisect.bisect_right(gstarts, lo) - 1
        while at < len(gstarts) and gstarts[at] < hi:
            cls = gcls[at]
            if (group, cls) not in pairs:
                pairs[(group, cls)] = len(reps)
                first = max(lo, gstarts[at])
                address = first.to_bytes(_BITS[family] // 8, "big")
                facts = compiled.reps[cls].facts
                reps.append(Client(address, family, _BITS[family], False, facts))
            at += 1
