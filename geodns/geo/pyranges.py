"""The pure-Python twin of geodns._native, for a machine without a compiler (and as a
reference in tests): the same Tree / overlay / remap / Ranges, the same arrays.

Slow where the C one is not: the walk reads every node through geo/mmdb.py and decodes
every record in Python (about 20 s for GeoLite2-City; a test fixture: milliseconds).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from typing import Any

from geodns.geo import mmdb

_NATIVE = "<" if sys.byteorder == "little" else ">"


def _u32(values: Any) -> bytes:
    return array("I", values).tobytes()


class _Leaves:
    """One family's leaves in address order: starts, record (value, then index), alias
    depth (-1: none) in arrays, not tuples: GeoLite2-City has 2.2M IPv4 leaves."""

    def __init__(self, wide: bool) -> None:
        self.starts: Any = [] if wide else array("I")
        self.recs = array("L")
        self.alias = array("h")

    def add(self, start: int, rec: int, alias: int) -> None:
        if alias < 0 and self.recs and self.recs[-1] == rec and self.alias[-1] < 0:
            return  # the same record as the leaf before: one range
        self.starts.append(start)
        self.recs.append(rec)
        self.alias.append(alias)


class Tree:
    """Leaves of both families in address order (equal neighbours merged) and records."""

    def __init__(self, buffer: Any, node_count: int, record_size: int, ip_version: int) -> None:
        if record_size not in (24, 28, 32) or ip_version not in (4, 6):
            raise ValueError("GeoIP database: unsupported record size or ip_version")
        if node_count < 1 or node_count * record_size // 4 + 16 > len(buffer):
            raise ValueError("GeoIP database: search tree larger than the file (truncated?)")
        self._db = db = mmdb.Database(buffer, node_count, record_size, ip_version)
        self._budget = node_count * 4 + 1024
        v4root = 0
        if ip_version == 6:
            for _ in range(96):
                if v4root >= node_count:
                    break
                v4root = db._node(v4root, 0)
        self.v4 = self._walk(v4root, 32, None, _Leaves(False))
        self.v6 = _Leaves(True)
        if ip_version == 6:
            self._walk(0, 128, v4root if v4root < node_count else None, self.v6)
        else:
            self.v6.add(0, 0, -1)
        values = sorted(
            {r for r in self.v4.recs if r}
            | {r for r, a in zip(self.v6.recs, self.v6.alias, strict=True) if r and a < 0}
        )
        index = {v: i + 1 for i, v in enumerate(values)}
        index[0] = 0
        self.v4.recs = array("L", map(index.__getitem__, self.v4.recs))
        self.v6.recs = array(
            "L",
            (index[r] if a < 0 else 0 for r, a in zip(self.v6.recs, self.v6.alias, strict=True)),
        )
        self._offsets = [v - node_count + db.tree_size for v in values]

    def _leaf(self, value: int) -> int:
        db = self._db
        if value <= db.node_count:
            return 0
        if value - db.node_count + db.tree_size >= len(db.buf):
            raise ValueError("GeoIP database: search tree points past the end of the file")
        return value

    def _walk(self, root: int, bits: int, v4root: int | None, out: _Leaves) -> _Leaves:
        """Every leaf, left first: (start, record value or 0, alias depth or -1)."""
        db, nc = self._db, self._db.node_count
        stack = [(root, 0, 0)]
        while stack:
            node, depth, prefix = stack.pop()
            if node < nc and depth < bits:
                if v4root is not None and node == v4root and depth <= 96:
                    out.add(prefix, 0, depth)
                    continue
                self._budget -= 1
                if self._budget < 0:
                    raise ValueError("GeoIP database: search tree is not a tree")
                bit = 1 << (bits - 1 - depth)
                stack.append((db._node(node, 1), depth + 1, prefix | bit))
                stack.append((db._node(node, 0), depth + 1, prefix))
                continue
            out.add(prefix, self._leaf(node if node >= nc else nc), -1)
        return out

    @property
    def records(self) -> int:
        return len(self._offsets)

    @property
    def leaves(self) -> tuple[int, int]:
        return len(self.v4.recs), len(self.v6.recs)

    def offsets(self) -> bytes:
        return _u32(self._offsets)

    def city(self) -> list[tuple]:
        return [self._db.city(off) for off in self._offsets]

    def places(self) -> tuple[bytes, list[tuple]]:
        """(index, distinct places), as the C Tree: places[0] is no data."""
        seen: dict[tuple, int] = {(None,) * 5: 0}
        city = self._db.city
        index = [0] + [seen.setdefault(city(off), len(seen)) for off in self._offsets]
        return _u32(index), list(seen)

    def asn(self) -> list[int | None]:
        return [self._db.asn(off) for off in self._offsets]

    def classify(self, classes: bytes, index: bytes | None = None) -> tuple[bytes, ...]:
        cls = array("I")
        cls.frombytes(classes)
        if index is not None:
            cls = array("I", (cls[i] for i in array("I", index)))
        if len(cls) < self.records + 1:
            raise ValueError(f"{len(cls)} classes for {self.records + 1} records")
        s4, c4 = _merge(zip(self.v4.starts, map(cls.__getitem__, self.v4.recs), strict=True))
        s6: list[int] = []
        c6: list[int] = []
        for start, rec, alias in zip(self.v6.starts, self.v6.recs, self.v6.alias, strict=True):
            if alias < 0:
                pieces: Any = [(start, cls[rec])]
            else:
                pieces = ((start | (s << (96 - alias)), c) for s, c in zip(s4, c4, strict=True))
            for s, c in pieces:
                if not c6 or c6[-1] != c:
                    s6.append(s)
                    c6.append(c)
        return _u32(s4), _u32(c4), b"".join(s.to_bytes(16, "big") for s in s6), _u32(c6)


def _merge(pairs: Any) -> tuple[list[int], list[int]]:
    starts: list[int] = []
    classes: list[int] = []
    for s, c in pairs:
        if not classes or classes[-1] != c:
            starts.append(s)
            classes.append(c)
    return starts, classes


def _starts(width: int, raw: bytes) -> list[int]:
    if width == 4:
        return list(array("I", raw))
    return [int.from_bytes(raw[i : i + 16], "big") for i in range(0, len(raw), 16)]


def _pack(width: int, starts: list[int]) -> bytes:
    if width == 4:
        return _u32(starts)
    return b"".join(s.to_bytes(16, "big") for s in starts)


def overlay(width: int, sa: bytes, ca: bytes, sb: bytes, cb: bytes, nb: int) -> tuple[bytes, bytes]:
    a, b = _starts(width, sa), _starts(width, sb)
    ka, kb = array("I", ca), array("I", cb)
    cuts = sorted(set(a) | set(b))
    pairs = ((s, ka[bisect_right(a, s) - 1] * nb + kb[bisect_right(b, s) - 1]) for s in cuts)
    starts, keys = _merge(pairs)
    return _pack(width, starts), _u32(keys)


def remap(width: int, starts: bytes, keys: bytes, known: bytes, cls: bytes) -> tuple[bytes, bytes]:
    table = dict(zip(array("I", known), array("I", cls), strict=True))
    merged = _merge(zip(_starts(width, starts), (table[k] for k in array("I", keys)), strict=True))
    return _pack(width, merged[0]), _u32(merged[1])


class Ranges:
    """find(packed) -> (class, scope), as csrc/geo/ranges.c geo_find4/geo_find6."""

    def __init__(self, start4: bytes, cls4: bytes, start6: bytes, cls6: bytes) -> None:
        self._s = {4: _starts(4, start4), 16: _starts(16, start6)}
        self._c = {4: array("I", cls4), 16: array("I", cls6)}

    def find(self, packed: bytes) -> tuple[int, int]:
        n = len(packed)
        bits = n * 8
        starts = self._s[n]
        addr = int.from_bytes(packed, "big")
        i = bisect_right(starts, addr) - 1
        lo = starts[i]
        hi = starts[i + 1] - 1 if i + 1 < len(starts) else (1 << bits) - 1
        for p in range(bits + 1):
            host = (1 << (bits - p)) - 1
            net = addr & ~host
            if net >= lo and net | host <= hi:
                return self._c[n][i], p
        return self._c[n][i], bits
