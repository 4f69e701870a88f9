"""Pass/fail in, one rise/fall state machine with drains, a read-only view out."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from geodns.health.steering import NO_STEERING, Measured, Steering, changed_pools
from geodns.model import CheckSpec, MemberKey, PoolKey

log = logging.getLogger("geodns.health")

UNKNOWN, UP, DOWN = "unknown", "up", "down"
TIMED_OUT = "first check timed out"


@dataclass(slots=True)
class _Member:
    spec: CheckSpec | None  # None: unchecked, always up
    state: str
    drained: bool = False
    passes: int = 0  # consecutive
    fails: int = 0  # consecutive
    last_ok: bool | None = None
    last_detail: str = ""
    last_checked: float | None = None
    quorum: str | None = None  # the fleet's verdict while joined; None: our own probes decide

    @property
    def effective_up(self) -> bool:
        return (self.quorum or self.state) != DOWN and not self.drained


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """One member's health as the status API shows it."""

    state: str  # "unknown" | "up" | "down" (raw check state, before drains)
    drained: bool
    effective_up: bool  # what policies see
    last_ok: bool | None
    last_detail: str
    last_checked: float | None  # epoch seconds of the last result
    checked: bool  # False: no check configured, always up
    passes: int = 0  # consecutive passes so far
    fails: int = 0  # consecutive failures so far
    quorum: str | None = None  # the fleet's verdict when it decides, else None


class HealthBoard:
    """The one owner of member health; policies read it through `is_up` and `generation`.

    A member with no check is always up. A checked member is unknown until its first
    result, which sets its state at once (a fresh server is useful immediately); after
    that `fall` consecutive failures take it down and `rise` passes bring it back, so one
    lost probe does not move traffic (the flap damping lives here, not in the probes).

    An unknown member counts as up. At start the server waits for the first round (or
    marks the stragglers failed) before it answers, so only members added or changed by a
    reload are ever unknown while serving; failing them closed before their first probe
    would move traffic away from endpoints nobody has seen fail.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._members: dict[MemberKey, _Member] = {}
        self._down: set[MemberKey] = set()  # effective down: what is_up reads, O(1)
        self._unknown: set[MemberKey] = set()  # checked members with no result yet
        self._generation = 0
        self._pool_generations: dict[PoolKey, int] = {}  # moves when one of its members does
        self.clock = clock
        self.checks_total: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.transitions_total: defaultdict[tuple[str, str, str, str], int] = defaultdict(int)
        # Called after every generation bump: worker processes get the new down set pushed.
        self.listeners: list[Callable[[], None]] = []
        # Called when our own probes move a member (the fleet publishes our verdicts).
        self.verdict_listeners: list[Callable[[MemberKey, str], None]] = []
        # Steering (geodns/steer): capacity factors below 1, measured RTTs per zone (what
        # workers are sent), and why each pool has its factor (explain and status only).
        self.steering = NO_STEERING
        self.capacity_notes: dict[PoolKey, str] = {}

    # -- the read-only view (model.HealthView) --------------------------------------------

    @property
    def generation(self) -> int:
        return self._generation

    def is_up(self, member: MemberKey) -> bool:
        """Up or unknown, and not drained; members this board does not know are up."""
        return member not in self._down

    def pool_generation(self, pool: PoolKey) -> int:
        return self._pool_generations.get(pool, 0)

    def pool_generations(self) -> dict[PoolKey, int]:
        """Every pool's generation (what a worker process is told, change by change)."""
        return dict(self._pool_generations)

    def capacity(self, pool: PoolKey) -> float:
        """The pool's capacity factor: 1 = its full share, 0 = shed (policies skip it)."""
        return self.steering.factors.get(pool, 1.0)

    def capacity_note(self, pool: PoolKey) -> str:
        """Why the pool has its factor (load, bounds, or why the load is not used)."""
        return self.capacity_notes.get(pool, "")

    def measured(self, zone: str) -> Measured | None:
        return self.steering.measured.get(zone)

    def set_capacity(self, states: Mapping[PoolKey, tuple[float, str]]) -> None:
        """Every polled pool's (factor, why); pools whose factor moved get a new generation,
        so cached decisions over them are dropped (a note alone changes nothing)."""
        old = self.steering
        factors = {k: f for k, (f, _) in states.items() if f < 1.0}
        moved = {
            k for k in factors.keys() | old.factors.keys() if factors.get(k) != old.factors.get(k)
        }
        self.capacity_notes = {k: note for k, (_, note) in states.items()}
        if moved:
            self.steering = Steering(factors, old.measured)
        self._steered(moved)

    def set_measured(self, zone: str, table: Measured | None) -> None:
        """A zone's measured RTTs; the pools whose costs moved get a new generation."""
        old = self.steering
        moved = {(zone, p) for p in changed_pools(old.measured.get(zone), table)}
        measured = {z: t for z, t in old.measured.items() if z != zone}
        if table is not None and table.by_key:
            measured[zone] = table
        if moved or (zone in old.measured) != (zone in measured):
            self.steering = Steering(old.factors, measured)
        self._steered(moved)

    def _steered(self, moved: set[PoolKey]) -> None:
        gens = self._pool_generations
        for pool in moved:
            gens[pool] = gens.get(pool, 0) + 1
        if moved:
            self._bumped()

    def down(self) -> frozenset[MemberKey]:
        """Every member policies must skip now (down or drained): what workers are sent."""
        return frozenset(self._down)

    def _bumped(self) -> None:
        self._generation += 1
        for listener in self.listeners:
            listener()

    def all_down(self, members: Iterable[MemberKey]) -> bool:
        """True when no member of these is up (and for none at all: nothing to answer with)."""
        return all(m in self._down for m in members)

    # -- reconcile on (re)load ------------------------------------------------------------

    def set_members(self, members: Mapping[MemberKey, CheckSpec | None]) -> None:
        """Reconcile with a (re)loaded config: members with the same key and spec keep
        their whole state, so health survives a reload; new or changed ones start over
        (old results say nothing about a new check); drains stay with the member."""
        fresh: dict[MemberKey, _Member] = {}
        old_keys = set(self._members)
        for key, spec in members.items():
            old = self._members.get(key)
            if old is not None and old.spec == spec:
                fresh[key] = old
                continue
            fresh[key] = _Member(spec, state=UP if spec is None else UNKNOWN)
            if old is not None:
                fresh[key].drained = old.drained
        self._members = fresh
        self._down = {k for k, m in fresh.items() if not m.effective_up}
        self._unknown = {k for k, m in fresh.items() if m.state == UNKNOWN}
        # A reload may add, drop or reset members: every pool's decisions start afresh.
        gens = self._pool_generations
        for zone, pool, _ in {*fresh, *old_keys}:
            gens[(zone, pool)] = gens.get((zone, pool), 0) + 1
        self._bumped()

    # -- results in -----------------------------------------------------------------------

    def record(self, member: MemberKey, ok: bool, detail: str) -> None:
        """One probe result; results for members no longer configured are ignored."""
        m = self._members.get(member)
        if m is None or m.spec is None:
            return
        zone, pool, _ = member
        self.checks_total[(zone, pool, "pass" if ok else "fail")] += 1
        m.last_ok, m.last_detail, m.last_checked = ok, detail, self.clock()
        if ok:
            m.passes, m.fails = m.passes + 1, 0
        else:
            m.fails, m.passes = m.fails + 1, 0
        new = m.state
        if m.state == UNKNOWN:
            new = UP if ok else DOWN
            self._unknown.discard(member)
        elif m.state == UP and m.fails >= m.spec.fall:
            new = DOWN
        elif m.state == DOWN and m.passes >= m.spec.rise:
            new = UP
        if new != m.state:
            self._log_transition(member, m.state, new, detail)
            m.state = new
            self.transitions_total[(*member, new)] += 1
            self._sync(member, m)
            for listener in self.verdict_listeners:
                listener(member, new)

    def _log_transition(self, member: MemberKey, old: str, new: str, detail: str) -> None:
        # A first "up" is routine (a thousand of them at start); anything "down" is not.
        level = logging.WARNING if new == DOWN else logging.INFO
        if old == UNKNOWN and new == UP:
            level = logging.DEBUG
        log.log(level, "%s/%s %s is %s (was %s): %s", *member, new, old, detail)

    def _sync(self, member: MemberKey, m: _Member) -> None:
        """Keep the down set in step with one member; bump the generation if it moved."""
        was_up = member not in self._down
        if m.effective_up == was_up:
            return
        if m.effective_up:
            self._down.discard(member)
        else:
            self._down.add(member)
        pool = (member[0], member[1])
        self._pool_generations[pool] = self._pool_generations.get(pool, 0) + 1
        self._bumped()

    # -- the fleet ------------------------------------------------------------------------

    def set_quorum(self, verdicts: Mapping[MemberKey, str | None]) -> None:
        """The fleet's verdict per member ("up"/"down"; None or absent: our own probes
        decide). Only members whose effective state moves bump their pool's generation."""
        for key, m in self._members.items():
            verdict = verdicts.get(key) if m.spec is not None else None
            if m.quorum != verdict:
                m.quorum = verdict
                self._sync(key, m)

    def seed(self, member: MemberKey, state: str) -> bool:
        """Warm start: a member with no result yet takes a verdict we saved (rise and fall
        then run from it); False if it is unknown here or already has a state."""
        m = self._members.get(member)
        if m is None or m.spec is None or m.state != UNKNOWN or state not in (UP, DOWN):
            return False
        m.state = state
        self._unknown.discard(member)
        self._sync(member, m)
        return True

    def own_verdicts(self) -> dict[MemberKey, str]:
        """Our own probes' state of every checked member that has one (what we publish)."""
        return {k: m.state for k, m in self._members.items() if m.spec and m.state != UNKNOWN}

    # -- drains ---------------------------------------------------------------------------

    def drain(self, member: MemberKey) -> bool:
        """Take a member out of answers whatever its checks say; False if no such member."""
        return self._set_drain(member, True)

    def undrain(self, member: MemberKey) -> bool:
        return self._set_drain(member, False)

    def _set_drain(self, member: MemberKey, drained: bool) -> bool:
        m = self._members.get(member)
        if m is None:
            return False
        if m.drained != drained:
            m.drained = drained
            log.info("%s/%s %s %s", *member, "drained" if drained else "undrained")
            self._sync(member, m)
        return True

    # -- the first round ------------------------------------------------------------------

    def first_round_done(self) -> bool:
        """Every checked member has had at least one result (O(1))."""
        return not self._unknown

    def mark_first_round_timed_out(self) -> int:
        """Record a failure for every checked member still without a result; how many.

        Called when the first round runs out of time: serving a member nobody could reach
        is worse than leaving it out until a probe succeeds.
        """
        late = list(self._unknown)
        for key in late:
            self.record(key, False, TIMED_OUT)
        return len(late)

    # -- status for the API ---------------------------------------------------------------

    def status(self, member: MemberKey) -> MemberStatus | None:
        """The member's state, or None if it is not configured."""
        m = self._members.get(member)
        if m is None:
            return None
        return MemberStatus(
            state=m.state,
            drained=m.drained,
            effective_up=m.effective_up,
            last_ok=m.last_ok,
            last_detail=m.last_detail,
            last_checked=m.last_checked,
            checked=m.spec is not None,
            passes=m.passes,
            fails=m.fails,
            quorum=m.quorum,
        )

    def members(self) -> list[MemberKey]:
        """Every configured member, checked or not, in configuration order."""
        return list(self._members)
