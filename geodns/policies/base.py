"""What every policy shares: node options, the decision, pool health, the parse context."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from geodns.errors import Problems, Where
from geodns.model import Client, HealthView, Pool

MAX_DEPTH = 8
COMMON_OPTIONS = ("ttl", "max_answers", "when_all_down")
# What a node's decision may depend on besides health; the table and the decision cache read
# these instead of knowing each policy: "facts" = the client's GeoFacts, "address" = the client
# address or network itself (a cidr rule, a sticky hash), "random" = an rng draw, "rotation" =
# max_answers, which rotates the answer on every query.
READS = frozenset({"facts", "address", "random", "rotation"})


@dataclass(frozen=True, slots=True)
class Options:
    ttl: int | None = None
    max_answers: int | None = None
    nodata_when_all_down: bool = False


@dataclass(frozen=True, slots=True)
class ParseContext:
    zone: str
    pools: Mapping[str, Pool]
    problems: Problems


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of a policy tree for one client: a pool (None = NODATA) and its scope."""

    pool: Pool | None
    scope: int
    ttl: int | None = None
    max_answers: int | None = None
    failed_open: bool = False
    healthy: bool = True
    # Up but over its capacity: a parent takes any healthy choice first, and a choice of
    # nothing but shed pools stays marked so up the tree; the root answers with it (shedding
    # never leaves a name without an answer).
    shed: bool = False


NODATA = Decision(None, 0, healthy=False)


class Node(Protocol):
    """A parsed policy: what it reads, its children (nodes or Pools), and its decision."""

    @property
    def reads(self) -> frozenset[str]:
        """This node's own inputs (a subset of READS), not its children's."""
        ...

    def children(self) -> tuple[Any, ...]: ...

    def resolve(
        self, client: Client, health: HealthView, rng: random.Random, trace: list[str] | None
    ) -> Decision: ...

    def classify(self, client: Client, sub: Callable[[Any], Hashable]) -> Hashable:
        """A key such that two clients with equal keys get the same decision from this node
        under every health, drain and capacity state (`sub(child)` is a child's key); raises
        NotCompiled when the decision depends on more than GeoFacts and cidr matches."""
        ...

    @property
    def fields(self) -> frozenset[str]:
        """The GeoFacts fields this node's own decision reads (continent, country,
        subdivision, asn, lat, lon): what compiling it against a database must keep."""
        ...


class NotCompiled(Exception):
    """A tree that cannot be compiled into address ranges (a sticky hash of the network)."""


def classify(node: Any, client: Client) -> Hashable:
    """A whole tree's key for one client (see Node.classify); a Pool's is None."""
    if isinstance(node, Pool):
        return None
    return node.classify(client, lambda child: classify(child, client))


class PolicyModule(Protocol):
    """The contract of one policy module: its key, its extra node keys, and its parser."""

    KEY: str
    OPTIONS: tuple[str, ...]

    def parse(
        self,
        raw: Any,
        options: Options,
        where: Where,
        ctx: ParseContext,
        parse_node: Callable[[Any, Where, ParseContext, int], Any],
        depth: int,
    ) -> Node | None: ...


def rotation(options: Options) -> frozenset[str]:
    """{"rotation"} when the node caps its answers (they rotate per query), else nothing."""
    return frozenset({"rotation"}) if options.max_answers else frozenset()


def at(raw: Any, key: Any, fallback: Where) -> Where:
    return raw.at(key) if hasattr(raw, "at") else fallback


def pool_up(pool: Pool, health: HealthView) -> bool:
    return any(health.is_up(m) for m in pool.members())


def factor(pool: Pool, health: HealthView) -> float:
    """The pool's capacity factor (steering): 1 = full share, 0 = shed. Pools without
    `capacity:` never ask, so plain pools cost nothing and any HealthView will do."""
    if pool.capacity is None:
        return 1.0
    return health.capacity((pool.zone, pool.name))


def shed(pool: Pool, health: HealthView) -> bool:
    return pool.capacity is not None and factor(pool, health) <= 0.0


def capacity_note(pool: Pool, health: HealthView) -> str:
    """Why a pool has its capacity factor (the load and bounds), for explain's trace."""
    note = health.capacity_note((pool.zone, pool.name)) if pool.capacity else ""
    return f" ({note})" if note else ""


def leaf(pool: Pool, health: HealthView, scope: int) -> Decision:
    """A pool as a choice: up and under capacity is healthy; up but shed is a spare."""
    up = pool_up(pool, health)
    if up and shed(pool, health):
        return Decision(pool, scope, healthy=False, shed=True)
    return Decision(pool, scope, failed_open=not up, healthy=up)


def with_options(d: Decision, options: Options, scope: int) -> Decision:
    """Apply a node's ttl/max_answers where no deeper node set them; widen the scope."""
    return Decision(
        d.pool,
        max(d.scope, scope),
        d.ttl if d.ttl is not None else options.ttl,
        d.max_answers if d.max_answers is not None else options.max_answers,
        d.failed_open,
        d.healthy,
        d.shed,
    )


def parse_options(raw: Any, where: Where, ctx: ParseContext) -> Options:
    ttl = raw.get("ttl")
    if ttl is not None and (
        isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl < 2**31
    ):
        ctx.problems.add(
            at(raw, "ttl", where), f"ttl: {ttl!r} must be an integer from 0 to 2147483647"
        )
        ttl = None
    max_answers = raw.get("max_answers")
    if max_answers is not None and (
        isinstance(max_answers, bool) or not isinstance(max_answers, int) or max_answers < 1
    ):
        ctx.problems.add(at(raw, "max_answers", where), "max_answers: must be an integer >= 1")
        max_answers = None
    mode = raw.get("when_all_down", "open")
    if mode not in ("open", "nodata"):
        ctx.problems.add(at(raw, "when_all_down", where), "when_all_down: must be open or nodata")
        mode = "open"
    return Options(ttl, max_answers, mode == "nodata")


def walk(node: Any) -> Iterator[Pool]:
    if isinstance(node, Pool):
        yield node
        return
    for child in node.children():
        yield from walk(child)


def resolve_child(
    child: Any, client: Client, health: HealthView, rng: random.Random, trace
) -> Decision:
    if isinstance(child, Pool):
        return leaf(child, health, 0)
    return child.resolve(client, health, rng, trace)
