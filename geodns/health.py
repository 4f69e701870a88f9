"""Pass/fail in, one rise/fall state machine with drains, a read-only view out."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from geodns.model import CheckSpec, MemberKey

log = logging.getLogger("geodns.health")

UNKNOWN, UP, DOWN = "unknown", "up", "down"


@dataclass(slots=True)
class _Member:
    spec: CheckSpec | None
    state: str = UNKNOWN
    drained: bool = False
    passes: int = 0  # consecutive
    fails: int = 0
    last_ok: bool | None = None
    last_detail: str = ""
    last_checked: float | None = None


@dataclass(frozen=True, slots=True)
class MemberStatus:
    state: str
    drained: bool
    effective_up: bool
    last_ok: bool | None
    last_detail: str
    last_checked: float | None
    checked: bool


class HealthBoard:
    """The one owner of member health; policies read it through `is_up` and `generation`.

    A member with no check is always up. A checked member is unknown until its first
    result, which sets its state at once (a fresh server is useful immediately); after
    that `fall` consecutive failures take it down and `rise` passes bring it back. An
    unknown member counts as up: the server waits for the first round before it answers,
    so only members added by a reload are ever unknown while serving, and failing them
    closed before their first probe would move traffic for no reason.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._members: dict[MemberKey, _Member] = {}
        self._down: set[MemberKey] = set()
        self._generation = 0
        self.clock = clock
        self.checks_total: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.transitions_total: defaultdict[tuple[str, str, str, str], int] = defaultdict(int)
        self.fail_open_total = 0

    @property
    def generation(self) -> int:
        return self._generation

    def is_up(self, member: MemberKey) -> bool:
        return member not in self._down

    def all_down(self, members: Iterable[MemberKey]) -> bool:
        return all(m in self._down for m in members)

    def set_members(self, members: Mapping[MemberKey, CheckSpec | None]) -> None:
        """Reconcile with a (re)loaded config: unchanged members keep their whole state."""
        fresh: dict[MemberKey, _Member] = {}
        for key, spec in members.items():
            old = self._members.get(key)
            if old is not None and old.spec == spec:
                fresh[key] = old
            else:
                fresh[key] = _Member(spec, state=UP if spec is None else UNKNOWN)
                if old is not None:
                    fresh[key].drained = old.drained
        self._members = fresh
        self._recompute()

    def record(self, member: MemberKey, ok: bool, detail: str) -> None:
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
        elif m.state == UP and m.fails >= m.spec.fall:
            new = DOWN
        elif m.state == DOWN and m.passes >= m.spec.rise:
            new = UP
        if new != m.state:
            m.state = new
            self.transitions_total[(*member, new)] += 1
            level = logging.WARNING if new == DOWN else logging.INFO
            log.log(level, "%s/%s %s is %s (%s)", zone, pool, member[2], new, detail)
            self._recompute()

    def _set_drain(self, member: MemberKey, drained: bool) -> bool:
        m = self._members.get(member)
        if m is None:
            return False
        if m.drained != drained:
            m.drained = drained
            log.info(
                "%s/%s %s %s",
                member[0],
                member[1],
                member[2],
                "drained" if drained else "undrained",
            )
            self._recompute()
        return True

    def drain(self, member: MemberKey) -> bool:
        return self._set_drain(member, True)

    def undrain(self, member: MemberKey) -> bool:
        return self._set_drain(member, False)

    def _recompute(self) -> None:
        down = {k for k, m in self._members.items() if m.drained or m.state == DOWN}
        if down != self._down:
            self._down = down
            self._generation += 1

    def first_round_done(self) -> bool:
        return all(m.state != UNKNOWN for m in self._members.values() if m.spec is not None)

    def mark_first_round_timed_out(self) -> None:
        for key, m in list(self._members.items()):
            if m.spec is not None and m.state == UNKNOWN:
                self.record(key, False, "first check timed out")

    def status(self, member: MemberKey) -> MemberStatus | None:
        m = self._members.get(member)
        if m is None:
            return None
        return MemberStatus(
            m.state,
            m.drained,
            member not in self._down,
            m.last_ok,
            m.last_detail,
            m.last_checked,
            m.spec is not None,
        )

    def members(self) -> list[MemberKey]:
        return list(self._members)
