"""Routing policies: one module each; parse at load, resolve per query, no I/O."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from geodns.model import Client, HealthView, Pool
from geodns.policies import base, failover, geo, latency, weighted
from geodns.policies.base import Decision, ParseContext

__all__ = ["Decision", "ParseContext", "parse_node", "resolve", "walk_pools"]

POLICY_KEYS = ("geo", "latency", "weighted", "failover")
EXTRA_OPTIONS = {"weighted": ("sticky",), "latency": ("rtt",)}


def _parse_policy(kind: str, raw: Any, options, where, ctx, depth: int) -> Any:
    body, at = raw[kind], base.at(raw, kind, where)
    if kind == "geo":
        return geo.parse(body, options, at, ctx, parse_node, depth)
    if kind == "failover":
        return failover.parse(body, options, at, ctx, parse_node, depth)
    if kind == "weighted":
        sticky = raw.get("sticky", False)
        if not isinstance(sticky, bool):
            ctx.problems.add(base.at(raw, "sticky", where), "sticky: must be true or false")
            return None
        return weighted.parse(body, options, at, ctx, parse_node, depth, sticky)
    return latency.parse(body, options, at, ctx, parse_node, depth, raw.get("rtt"))


def parse_node(raw: Any, where, ctx: ParseContext, depth: int = 0) -> Any:
    """A pool name -> the Pool; a mapping with one policy key -> that policy's node."""
    if isinstance(raw, str):
        pool = ctx.pools.get(raw)
        if pool is None:
            known = ", ".join(sorted(ctx.pools)) or "none defined"
            ctx.problems.add(where, f"unknown pool {raw!r} (known: {known})")
        return pool
    if depth > base.MAX_DEPTH:
        ctx.problems.add(where, f"policy nesting deeper than {base.MAX_DEPTH}")
        return None
    if not isinstance(raw, dict):
        ctx.problems.add(where, f"expected a pool name or a policy mapping, got {raw!r}")
        return None
    kinds = [k for k in raw if k in POLICY_KEYS]
    if len(kinds) != 1:
        what = "no policy" if not kinds else f"two policies ({', '.join(kinds)})"
        ctx.problems.add(where, f"{what}: give exactly one of {', '.join(POLICY_KEYS)}")
        return None
    kind = kinds[0]
    allowed = {kind, *base.COMMON_OPTIONS, *EXTRA_OPTIONS.get(kind, ())}
    bad = [k for k in raw if k not in allowed]
    for key in bad:
        ctx.problems.add(base.at(raw, key, where), f"{kind}: unknown or misplaced key {key!r}")
    options = base.parse_options(raw, where, ctx)
    node = _parse_policy(kind, raw, options, where, ctx, depth)
    return None if bad else node


def resolve(
    node: Any,
    client: Client,
    health: HealthView,
    rng: random.Random,
    trace: list[str] | None = None,
) -> Decision:
    """Decide for one client; `trace` (when given) collects the reasons, step by step."""
    if isinstance(node, Pool):
        return base.leaf(node, health, 0)
    return node.resolve(client, health, rng, trace)


def walk_pools(node: Any) -> Iterator[Pool]:
    """Every pool a tree can answer from (for health checks and status)."""
    yield from base.walk(node)
