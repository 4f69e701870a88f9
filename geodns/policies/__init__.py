"""Routing policies: one module each, found through REGISTRY; parse at load, resolve per query."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from geodns.model import Client, HealthView, Pool
from geodns.policies import base, failover, geo, latency, weighted
from geodns.policies.base import Decision, Node, ParseContext, PolicyModule

__all__ = [
    "REGISTRY",
    "Decision",
    "Node",
    "ParseContext",
    "PolicyModule",
    "node_keys",
    "parse_node",
    "reads",
    "resolve",
    "walk_pools",
]


REGISTRY: dict[str, PolicyModule] = {m.KEY: m for m in (geo, latency, weighted, failover)}


def node_keys() -> frozenset[str]:
    """Every key that belongs to a policy node where a name's records sit: the policy keys,
    the common options but `ttl` (there it is the name's own TTL), and each policy's OPTIONS.
    Read from the registry when a zone file is parsed, so a policy added there is known."""
    common = [k for k in base.COMMON_OPTIONS if k != "ttl"]
    return frozenset([*REGISTRY, *common, *(k for m in REGISTRY.values() for k in m.OPTIONS)])


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
    kinds = [k for k in raw if k in REGISTRY]
    if len(kinds) != 1:
        what = "no policy" if not kinds else f"two policies ({', '.join(kinds)})"
        ctx.problems.add(where, f"{what}: give exactly one of {', '.join(REGISTRY)}")
        return None
    kind = kinds[0]
    module = REGISTRY[kind]
    allowed = {kind, *base.COMMON_OPTIONS, *module.OPTIONS}
    bad = [k for k in raw if k not in allowed]
    for key in bad:
        ctx.problems.add(base.at(raw, key, where), f"{kind}: unknown or misplaced key {key!r}")
    options = base.parse_options(raw, where, ctx)
    node = module.parse(raw, options, where, ctx, parse_node, depth)
    return None if bad else node


def reads(node: Any) -> frozenset[str]:
    """What a whole tree's decision depends on besides health (see base.READS); a Pool: nothing.

    The table and the decision cache ask this instead of knowing any policy by its class."""
    if isinstance(node, Pool):
        return frozenset()
    found = frozenset(node.reads)
    for child in node.children():
        found |= reads(child)
    return found


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
