"""failover: the first healthy child in order; all down -> the first (open) or NODATA."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geodns.policies import base

KEY = "failover"
OPTIONS: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Failover:
    members: tuple[Any, ...]
    options: base.Options

    @property
    def reads(self) -> frozenset[str]:
        """Nothing but health (and the rotation, if capped): the list order decides."""
        return base.rotation(self.options)

    def children(self) -> tuple[Any, ...]:
        return self.members

    @property
    def fields(self) -> frozenset[str]:
        return frozenset()

    def classify(self, client, sub) -> tuple:
        """The children's keys in order: resolve() takes the first usable one."""
        return tuple(sub(child) for child in self.members)

    def resolve(self, client, health, rng, trace) -> base.Decision:
        first = spare = None
        for child in self.members:
            mark = len(trace) if trace is not None else 0
            d = base.resolve_child(child, client, health, rng, trace)
            if d.healthy:
                if trace is not None:  # the parent's step reads before its child's
                    trace.insert(mark, f"failover: chose {_name(child)}")
                return base.with_options(d, self.options, 0)
            if trace is not None:
                why = "shed" + base.capacity_note(d.pool, health) if d.shed else "down"
                trace.append(f"failover: skipped {_name(child)} ({why})")
            first = first or d
            spare = spare or (d if d.shed else None)
        if spare is not None:  # only shed pools are up: shedding never leaves us with none
            if trace is not None:
                trace.append(f"failover: all down or shed: {spare.pool.name} over capacity")
            return base.with_options(spare, self.options, 0)
        if self.options.nodata_when_all_down:
            if trace is not None:
                trace.append("failover: all down, when_all_down nodata")
            return base.NODATA
        if trace is not None:
            trace.append(f"failover: all down, failing open to {_name(self.members[0])}")
        d = base.with_options(first, self.options, 0)
        return base.Decision(d.pool, d.scope, d.ttl, d.max_answers, True, False)


def _name(child: Any) -> str:
    return getattr(child, "name", type(child).__name__.lower())


def parse(raw: Any, options: base.Options, where, ctx, parse_node, depth: int) -> Failover | None:
    """The `failover:` list of children, in order of preference."""
    body, where = raw[KEY], base.at(raw, KEY, where)
    if not isinstance(body, list) or not body:
        ctx.problems.add(where, "failover: must be a non-empty list of pools or policies")
        return None
    members = []
    for i, item in enumerate(body):
        child = parse_node(item, base.at(body, i, where), ctx, depth + 1)
        if child is None:
            return None
        members.append(child)
    return Failover(tuple(members), options)
