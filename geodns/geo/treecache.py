"""Compiled GeoIP trees kept across reloads, keyed by the tree's value and the databases."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from typing import Any


def tree_key(value: Any, seen: dict[int, Any] | None = None) -> Hashable:
    """A policy tree's value as a hashable key: equal for trees a re-parse of an unchanged
    record makes (nodes and pools are frozen dataclasses, some holding dicts: not hashable
    themselves). Anything that is not a dataclass, container or plain value keys by its
    identity, so it never makes two different trees look equal."""
    seen = {} if seen is None else seen
    found = seen.get(id(value))
    if found is not None:
        return found
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = [(f.name, tree_key(getattr(value, f.name), seen)) for f in _fields(value)]
        key: Hashable = (type(value).__qualname__, tuple(parts))
    elif isinstance(value, dict):
        key = ("dict", tuple((tree_key(k, seen), tree_key(v, seen)) for k, v in value.items()))
    elif isinstance(value, (tuple, list, frozenset, set)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        key = (type(value).__name__, tuple(tree_key(v, seen) for v in items))
    else:
        key = ("object", id(value))
    seen[id(value)] = key
    return key


def _fields(value: Any) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(value) if f.compare]


class TreeCache:
    """Compiled trees kept from one compile to the next, by the tree's value (tree_key: a
    reload that re-parses a file makes equal trees for what did not change) and the very
    databases they were compiled against.

    A reload that changes one record then compiles nothing, where it recompiled every tree
    (a second or more against GeoLite2-City: the walk, the decode and the merges). Holds the
    trees of the last compile only, so nothing outlives the table that used it."""

    def __init__(self) -> None:
        self._against: tuple[Any, Any] = (None, None)
        self._trees: dict[Any, Any] = {}
        self.hits = self.misses = 0  # trees, over every compile: tests and the log

    def begin(self, locator: Any) -> dict[Any, Any]:
        """What the last compile left, if it was against these databases; starts afresh."""
        city, asn = getattr(locator, "city", None), getattr(locator, "asn", None)
        against = (city.tree if city else None, asn.tree if asn else None)
        same = all(a is b for a, b in zip(against, self._against, strict=True))
        kept = self._trees if same else {}
        self._against, self._trees = against, {}
        return kept

    def keep(self, key: Hashable, compiled: Any) -> None:
        self._trees[key] = compiled
