"""weighted: random by weight among healthy pools; sticky hashes the client network."""

from __future__ import annotations

import bisect
import zlib
from dataclasses import dataclass
from typing import Any

from geodns.model import FAMILY_V4, Pool
from geodns.policies import base

KEY = "weighted"
OPTIONS = ("sticky",)
STICKY_V4, STICKY_V6 = 24, 56


@dataclass(frozen=True, slots=True)
class Weighted:
    members: tuple[Pool, ...]
    weights: tuple[int, ...]
    sticky: bool
    options: base.Options
    salt: bytes

    @property
    def reads(self) -> frozenset[str]:
        """Sticky hashes the client network (address); otherwise each answer is a fresh draw."""
        own = frozenset({"address"} if self.sticky else {"random"})
        return own | base.rotation(self.options)

    def children(self) -> tuple[Pool, ...]:
        return self.members

    def _draw(self, client, rng) -> float:
        """A number in [0, 1): random, or a stable hash of the client's network."""
        if not self.sticky:
            return rng.random()
        bits = STICKY_V4 if client.family == FAMILY_V4 else STICKY_V6
        net = client.address[: bits // 8]
        return zlib.crc32(self.salt + net) / 2**32

    def resolve(self, client, health, rng, trace) -> base.Decision:
        scope = 0
        if self.sticky:
            scope = STICKY_V4 if client.family == FAMILY_V4 else STICKY_V6
        up = [base.pool_up(p, health) for p in self.members]
        candidates = [i for i, ok in enumerate(up) if ok and self.weights[i] > 0]
        weights = [self.weights[i] for i in candidates]
        failed_open = False
        if not candidates:
            candidates = [i for i, ok in enumerate(up) if ok]  # weight-0 standbys
            weights = [1] * len(candidates)
        if not candidates:
            if self.options.nodata_when_all_down:
                if trace is not None:
                    trace.append("weighted: all down, when_all_down nodata")
                return base.NODATA
            candidates = [i for i, wt in enumerate(self.weights) if wt > 0]
            weights = [self.weights[i] for i in candidates]
            failed_open = True
        total = sum(weights)
        cumulative = []
        running = 0
        for wt in weights:
            running += wt
            cumulative.append(running)
        index = candidates[bisect.bisect_right(cumulative, self._draw(client, rng) * total)]
        pool = self.members[index]
        if trace is not None:
            how = "by client network hash" if self.sticky else "at random"
            state = " (all down: failing open)" if failed_open else ""
            share = f"weight {self.weights[index]} of {total}"
            trace.append(f"weighted: picked {pool.name} {how} ({share}){state}")
        d = base.Decision(pool, scope, failed_open=failed_open, healthy=not failed_open)
        return base.with_options(d, self.options, scope)


def parse(raw: Any, options: base.Options, where, ctx, parse_node, depth: int) -> Weighted | None:
    """The `weighted:` mapping of pool -> weight, and the node's `sticky:` flag."""
    sticky = raw.get("sticky", False)
    if not isinstance(sticky, bool):
        ctx.problems.add(base.at(raw, "sticky", where), "sticky: must be true or false")
        return None
    body, where = raw[KEY], base.at(raw, KEY, where)
    if not isinstance(body, dict) or not body:
        ctx.problems.add(where, "weighted: must be a mapping of pool name to weight")
        return None
    members, weights, ok = [], [], True
    for name, weight in body.items():
        at = base.at(body, name, where)
        pool = parse_node(str(name), at, ctx, depth + 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            ctx.problems.add(
                at, f"weighted: bad weights: {name} has {weight!r}, not an integer >= 0"
            )
            ok = False
        if pool is None:
            ok = False
        else:
            members.append(pool)
            weights.append(weight)
    if ok and not any(weights):
        ctx.problems.add(where, "weighted: bad weights: at least one must be above 0")
        ok = False
    if not ok:
        return None
    salt = ",".join(p.name for p in members).encode()
    return Weighted(tuple(members), tuple(weights), sticky, options, salt)
