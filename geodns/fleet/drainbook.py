"""Drains that converge: each member's newest record wins, and a merge keeps min_healthy."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from geodns.fleet.drains import Drain, floor
from geodns.model import MemberKey, Pool

log = logging.getLogger("geodns.fleet")


def expired(record: Drain, now: float) -> bool:
    if record.expires is None:
        return False
    try:
        return datetime.fromisoformat(record.expires).timestamp() <= now
    except ValueError:
        return False  # unreadable: kept, as a drain without an expiry would be


class DrainBook:
    """Every member's newest record (drain or undrain) by (hlc, writer): the same set of
    records gives the same drains on every instance, whatever order they came in."""

    def __init__(self, records: Iterable[Drain] = ()) -> None:
        self.records: dict[MemberKey, Drain] = {}
        self.held: set[MemberKey] = set()  # drained by a merge but kept up for min_healthy
        self.held_total = 0
        for record in records:
            self.merge(record)

    def merge(self, record: Drain) -> bool:
        """Take the record if it is newer than the one held for its member; True if taken."""
        held = self.records.get(record.member)
        if held is not None and held.stamp >= record.stamp:
            return False
        self.records[record.member] = record
        return True

    def active(self, now: float) -> dict[MemberKey, Drain]:
        """The drains in force: the newest record says drained and has not expired."""
        return {m: r for m, r in self.records.items() if r.drained and not expired(r, now)}

    def decide(
        self, now: float, pools: Iterable[Pool], healthy: Callable[[MemberKey], bool]
    ) -> set[MemberKey]:
        """The members to take out of answers. Per pool with min_healthy, drains apply oldest
        first while the pool keeps enough healthy members; the rest are held (kept up), unless
        made with force. Held members are counted and logged when they become held."""
        active = self.active(now)
        out = set(active)
        held: set[MemberKey] = set()
        for pool in pools:
            held |= _hold(pool, active, healthy)
        for member in sorted(held - self.held):
            self.held_total += 1
            log.warning(
                "fleet: drain of %s kept back: it would leave pool %s below min_healthy %s",
                "/".join(member),
                member[1],
                _floor_words(pools, member),
            )
        self.held = held
        return out - held


def _hold(
    pool: Pool, active: dict[MemberKey, Drain], healthy: Callable[[MemberKey], bool]
) -> set[MemberKey]:
    need = floor(pool)
    members = pool.members()
    drained = sorted((active[m] for m in members if m in active), key=lambda r: r.stamp)
    if need == 0 or not drained:
        return set()
    left = sum(1 for m in members if healthy(m))
    held: set[MemberKey] = set()
    for record in drained:  # oldest first: a later drain is the one that breaks the floor
        if not healthy(record.member):
            continue
        if record.forced or left - 1 >= need:
            left -= 1
        else:
            held.add(record.member)
    return held


def _floor_words(pools: Iterable[Pool], member: MemberKey) -> str:
    for pool in pools:
        if pool.zone == member[0] and pool.name == member[1]:
            return str(pool.min_healthy)
    return "?"
