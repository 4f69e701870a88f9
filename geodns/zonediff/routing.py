"""The routing diff: which client networks a zone change moves, from which pool to which.

Both sides' policy trees are compiled against the same GeoIP databases (geo/compiled.py:
address ranges -> class, a class decided alike for every address in it under any health),
each class is resolved once under the given health view to an outcome (the pool it
answers from), and the two sides' ranges are overlaid: where the outcomes differ, clients
move. No query is simulated per address, so a whole GeoLite2-City diff takes about a second.
"""

from __future__ import annotations

import random
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from geodns import policies
from geodns.geo import compiled
from geodns.model import AllUp, HealthView, Pool, Zone
from geodns.zonediff import ranges

FAMILIES = (("ipv4", 4, 0), ("ipv6", 16, 2))
DRAWS = 1000  # grid points for a random draw's shares: exact to 0.1 % for one weighted node
NODATA = "NODATA"  # the outcome of a tree that answers no pool (when_all_down: nodata)
Outcome = str | None  # a pool name, "us 90%, eu 10%" for a draw, None: no such policy name


def policy_trees(zones: Zone | Iterable[Zone] | None) -> dict[str, Any]:
    """Policy name ("www.zone.") -> its tree, over one zone or several (None: none)."""
    if zones is None:
        return {}
    if isinstance(zones, Zone):
        zones = [zones]
    from geodns import names

    return {names.wire_to_text(owner): node for z in zones for owner, node in z.policies.items()}


class _Grid(random.Random):
    """An rng whose first draw is a grid point (so a weighted node's shares come out exact)
    and whose later draws (a draw nested in a draw) are seeded by it: deterministic."""

    def __init__(self, point: int) -> None:
        super().__init__(point)
        self._first: float | None = (point + 0.5) / DRAWS

    def random(self) -> float:
        if self._first is not None:
            value, self._first = self._first, None
            return value
        return super().random()


def outcome(node: Any, client: Any, health: HealthView) -> Outcome:
    """What a tree answers a client with: the pool's name; a draw's shares where it draws."""
    if "random" not in policies.reads(node):
        return _pool_name(policies.resolve(node, client, health, random.Random(0)))
    shares = Counter(
        _pool_name(policies.resolve(node, client, health, _Grid(i))) for i in range(DRAWS)
    )
    if len(shares) == 1:
        return next(iter(shares))
    order = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{name} {count * 100 / DRAWS:g}%" for name, count in order)


def _pool_name(decision: policies.Decision) -> str:
    pool = decision.pool
    return pool.name if isinstance(pool, Pool) else NODATA


class _Side:
    """One side's tree compiled: ranges per family and each class's outcome as a label id."""

    def __init__(self, node: Any, dbs: compiled.Databases, health: HealthView, labels: dict):
        self.node = node
        self.compiled = None if node is None else compiled.compile_tree(node, dbs)
        self.per_query = node is not None and self.compiled is None
        self.ids: list[int] = []
        if self.compiled is not None:
            for cls in range(self.compiled.classes):
                label = outcome(node, self.compiled.client(cls), health)
                self.ids.append(labels.setdefault(label, len(labels)))

    def family(self, width: int, at: int, none_id: int) -> tuple[bytes, bytes]:
        """(starts, label ids) of one family, equal neighbours merged."""
        zero = bytes(width)
        if self.compiled is None:
            return zero, array("I", [none_id]).tobytes()
        bufs = self.compiled.buffers()
        known = array("I", range(len(self.ids))).tobytes()
        ids = array("I", self.ids).tobytes()
        return compiled.engine.remap(width, bufs[at], bufs[at + 1], known, ids)


def _moves(name: str, old: _Side, new: _Side, labels: dict, limit: int) -> list[dict]:
    """The entries of one policy name: per family and (from, to), the ranges that move."""
    names = list(labels)
    out: list[dict] = []
    for family, width, at in FAMILIES:
        sa, ca = old.family(width, at, labels[None])
        sb, cb = new.family(width, at, labels[None])
        starts, keys = compiled.engine.overlay(width, sa, ca, sb, cb, len(names))
        bits = ranges.BITS[width]
        found = _intervals(ranges.starts_of(width, starts), array("I", keys), names, bits)
        for (before, after), intervals in found.items():
            out.append(_entry(name, family, before, after, intervals, bits, limit))
    return out


def _intervals(starts: list[int], keys: Sequence[int], names: list, bits: int) -> dict:
    """(from, to) -> [first, last] intervals where the outcome differs, neighbours joined."""
    found: dict[tuple, list[list[int]]] = {}
    end = 1 << bits
    for i, key in enumerate(keys):
        before, after = divmod(key, len(names))
        if before == after:
            continue
        pair = (names[before], names[after])
        last = (starts[i + 1] if i + 1 < len(starts) else end) - 1
        runs = found.setdefault(pair, [])
        if runs and runs[-1][1] + 1 == starts[i]:
            runs[-1][1] = last
        else:
            runs.append([starts[i], last])
    return found


def _entry(name: str, family: str, before, after, intervals, bits: int, limit: int) -> dict:
    listed: list[str] = []
    count = 0
    for first, last in intervals:
        for network, prefix in ranges.cidrs(first, last, bits):
            if count < limit:
                listed.append(ranges.text(network, prefix, bits))
            count += 1
    return {
        "name": name,
        "family": family,
        "ranges": listed,
        "count": count,
        "from": before,
        "to": after,
    }


def routing_diff(
    old: Zone | Iterable[Zone] | None,
    new: Zone | Iterable[Zone] | None,
    dbs: compiled.Databases,
    health: HealthView | None = None,
    limit: int = 100,
) -> list[dict]:
    """For each policy name whose decisions change, the client ranges that move.

    `old`/`new`: the zones as zones/load.py or `zone_from_document` give them (one, several,
    or None for none); `dbs`: the GeoIP databases walked once (`databases(locator)`, reuse
    it across diffs: building it costs ~1 s for GeoLite2-City); `health`: the view to
    decide under (default: every member up). Entries: {"name", "family": "ipv4"|"ipv6",
    "ranges": up to `limit` CIDRs, "count": every CIDR, "from", "to"}; from/to are pool
    names, "a 90%, b 10%" for a random draw, "NODATA", or None where the name has no policy
    on that side. A tree that is decided per query (sticky weighted hashes the client
    network) has no ranges: it gets one entry per changed tree with "per_query": true.
    """
    health = AllUp() if health is None else health
    before, after = policy_trees(old), policy_trees(new)
    out: list[dict] = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a is not None and b is not None and a == b:
            continue
        labels: dict[Outcome, int] = {None: 0}
        sides = _Side(a, dbs, health, labels), _Side(b, dbs, health, labels)
        if sides[0].per_query or sides[1].per_query:
            out.append(_per_query(name))
            continue
        out += _moves(name, sides[0], sides[1], labels, limit)
    return out


def _per_query(name: str) -> dict:
    entry = {"name": name, "family": None, "ranges": [], "count": 0, "from": None, "to": None}
    return {**entry, "per_query": True}


def databases(locator: Any) -> compiled.Databases:
    """The locator's City/ASN databases walked for diffs (None: no GeoIP, one class)."""
    return compiled.Databases() if locator is None else compiled.Databases.of(locator)
