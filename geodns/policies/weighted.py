"""weighted: random by weight among healthy pools; sticky hashes the client network."""

from __future__ import annotations

import hashlib
import math
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
    keys: tuple[bytes, ...]  # each pool's name, hashed with the client network when sticky
    steered: tuple[tuple[str, str] | None, ...] = ()  # (zone, pool) of pools with capacity

    @property
    def reads(self) -> frozenset[str]:
        """Sticky hashes the client network (address); otherwise each answer is a fresh draw."""
        own = frozenset({"address"} if self.sticky else {"random"})
        return own | base.rotation(self.options)

    def children(self) -> tuple[Pool, ...]:
        return self.members

    @property
    def fields(self) -> frozenset[str]:
        return frozenset()

    def classify(self, client, sub) -> tuple:
        """Not sticky: the draw ignores the client (one class). Sticky hashes the client
        network, so any /24 (/56) may differ: not compiled."""
        if self.sticky:
            raise base.NotCompiled("weighted with sticky: true hashes the client network")
        return tuple(sub(child) for child in self.members)

    def _shares(self, health) -> tuple[list[int], list[float], bool, bool]:
        """(candidate indexes, their weights, failed open, capacity ignored): healthy pools
        by weight times capacity factor; shed ones (factor 0) dropped unless all are; weight-0
        standbys only when nothing else is up; every configured weight when all are down."""
        up = [base.pool_up(p, health) for p in self.members]
        live = [i for i, ok in enumerate(up) if ok and self.weights[i] > 0]
        if not live:
            live = [i for i, ok in enumerate(up) if ok]  # weight-0 standbys
            if live:
                return live, [1.0] * len(live), False, False
            live = [i for i, wt in enumerate(self.weights) if wt > 0]
            return live, [float(self.weights[i]) for i in live], True, False
        get = health.capacity if self.steered else None
        if get is None:  # no pool with capacity: weights as set
            return live, [float(self.weights[i]) for i in live], False, False
        kept, scaled = [], []
        for i in live:
            key = self.steered[i]
            weight = self.weights[i] * (get(key) if key is not None else 1.0)
            if weight > 0:
                kept.append(i)
                scaled.append(weight)
        if not kept:  # every candidate is shed: shedding never leaves us with none
            return live, [float(self.weights[i]) for i in live], False, True
        return kept, scaled, False, False

    def _pick(self, client, rng, candidates: list[int], weights: list[float]) -> int:
        """Random by weight; sticky: weighted rendezvous hashing of the client network (the
        highest -w/ln(h) wins, h a stable hash of network and pool in (0, 1)), so a pool
        that leaves moves only its own clients and a weight change only the share it moved."""
        if not self.sticky:
            point = rng.random() * sum(weights)
            for i, wt in zip(candidates, weights, strict=True):
                point -= wt
                if point < 0:
                    return i
            return candidates[-1]
        bits = STICKY_V4 if client.family == FAMILY_V4 else STICKY_V6
        net = client.address[: bits // 8]
        best, best_score = candidates[0], -math.inf
        for i, wt in zip(candidates, weights, strict=True):
            digest = hashlib.blake2b(net, digest_size=8, key=self.keys[i]).digest()
            h = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)
            score = -wt / math.log(h)
            if score > best_score:
                best, best_score = i, score
        return best

    def resolve(self, client, health, rng, trace) -> base.Decision:
        scope = 0
        if self.sticky:
            scope = STICKY_V4 if client.family == FAMILY_V4 else STICKY_V6
        candidates, weights, failed_open, ignored = self._shares(health)
        if failed_open and self.options.nodata_when_all_down:
            if trace is not None:
                trace.append("weighted: all down, when_all_down nodata")
            return base.NODATA
        index = self._pick(client, rng, candidates, weights)
        pool = self.members[index]
        if trace is not None:
            trace.append(self._say(pool, index, candidates, weights, failed_open, ignored, health))
        healthy = not failed_open and not ignored  # all shed: a parent may find better
        d = base.Decision(pool, scope, failed_open=failed_open, healthy=healthy, shed=ignored)
        return base.with_options(d, self.options, scope)

    def _say(self, pool, index, candidates, weights, failed_open, ignored, health) -> str:
        how = "by client network (rendezvous hash)" if self.sticky else "at random"
        total = sum(weights)
        share = weights[candidates.index(index)]
        state = " (all down: failing open)" if failed_open else ""
        state += " (every pool shed: capacity ignored)" if ignored else ""
        steered = [
            f"{p.name} x {base.factor(p, health):.2f}{base.capacity_note(p, health)}"
            for p in self.members
            if p.capacity is not None
        ]
        note = f"; capacity: {', '.join(steered)}" if steered else ""
        return f"weighted: picked {pool.name} {how} (weight {share:g} of {total:g}{note}){state}"


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
    keys = tuple(hashlib.blake2b(p.name.encode(), digest_size=16).digest() for p in members)
    steered = tuple((p.zone, p.name) if p.capacity else None for p in members)
    return Weighted(
        tuple(members), tuple(weights), sticky, options, keys, steered if any(steered) else ()
    )
