"""Every mutable per-process memo of the answering path, behind one bound.

The compiled table is immutable; what a process learns while answering (decisions per
client, rotation counters, server cookies) lives here,
keyed by the table's objects, and is thrown away whole when it grows past `limit` entries
or when GeoIP data or ECS settings change. A memo is valid for one health *stamp* of its policy
name: the sum of the generations of the pools that name can answer from, so a flap in one
pool leaves every other pool's cached decisions alone.
"""

from __future__ import annotations

from typing import Any

from geodns.model import HealthView

DEFAULT_LIMIT = 131072  # entries over every memo together (~150-300 B each)


class Memos:
    """One process's memos; `stamp(policy)` says whether a memo is still good for it."""

    __slots__ = (
        "_stamps",
        "cookies",
        "decisions",
        "health",
        "limit",
        "rotations",
        "stored",
        "tails",
    )

    def __init__(self, health: HealthView, limit: int = DEFAULT_LIMIT) -> None:
        self.health = health
        self.limit = limit
        self.stored = 0
        # policy name -> (A decisions, AAAA decisions), each id(subject) -> (subject, stamp, tail)
        self.decisions: dict[Any, tuple[dict, dict]] = {}
        self.tails: dict[tuple, tuple] = {}  # interned (count, body, scope, pool key, open)
        self.rotations: dict[Any, int] = {}  # policy name -> next max_answers rotation start
        # (client cookie, client address) -> (our server cookie, when made): dns/cookies.py
        self.cookies: dict[tuple[bytes, str], tuple[bytes, int]] = {}
        self._stamps: dict[Any, tuple[int, int]] = {}  # policy -> (health generation, stamp)

    def stamp(self, policy: Any) -> int:
        """The health stamp of a policy name: moves only when one of its pools moves.

        Recomputed once per policy name after any health change anywhere (a few dict
        look-ups), so the hot path pays one look-up and one compare.
        """
        health = self.health
        version = health.generation
        found = self._stamps.get(policy)
        if found is not None and found[0] == version:
            return found[1]
        value = sum(health.pool_generation(pool) for pool in policy.pools)
        if found is None:
            self.added()
        self._stamps[policy] = (version, value)
        return value

    def added(self, n: int = 1) -> None:
        """Count new entries; past the bound every memo starts afresh (cheap and rare)."""
        self.stored += n
        if self.stored >= self.limit:
            self.clear()

    def clear(self) -> None:
        """Forget everything (new GeoIP data, ECS settings, or the bound reached)."""
        self.decisions.clear()
        self.cookies.clear()
        self.tails.clear()
        self.rotations.clear()
        self._stamps.clear()
        self.stored = 0

    def decisions_for(self, policy: Any, aaaa: bool) -> dict:
        found = self.decisions.get(policy)
        if found is None:
            found = self.decisions[policy] = ({}, {})
        return found[aaaa]

    def rotation(self, policy: Any) -> int:
        """The next rotation start for a policy name's max_answers, counting up."""
        start = self.rotations.get(policy, 0)
        self.rotations[policy] = start + 1
        return start
