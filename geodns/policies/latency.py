"""latency: the healthy pool nearest the client (haversine), or per an explicit rtt table."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from geodns.model import Pool
from geodns.policies import base

KEY = "latency"
OPTIONS = ("rtt",)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


@functools.lru_cache(maxsize=256)
def _pool_radians(locations: tuple) -> tuple:
    """Per pool location (latitude in radians, its cosine, longitude), or None."""
    return tuple(
        None if loc is None else (math.radians(loc[0]), math.cos(math.radians(loc[0])), loc[1])
        for loc in locations
    )


@dataclass(frozen=True, slots=True)
class Latency:
    members: tuple[Pool, ...]
    rtt: dict[str, dict[str, float]]  # "country:DE" / "continent:EU" -> pool -> ms
    options: base.Options

    @property
    def reads(self) -> frozenset[str]:
        """The client's location (GeoFacts) orders the pools; its address too, since RTTs
        measured per client network (POST /api/v1/rtt) may differ inside one GeoIP network."""
        return frozenset({"facts", "address"}) | base.rotation(self.options)

    def children(self) -> tuple[Pool, ...]:
        return self.members

    @property
    def fields(self) -> frozenset[str]:
        return frozenset({"lat", "lon", "country", "continent"} if self.rtt else {"lat", "lon"})

    def classify(self, client, sub) -> tuple[int, ...]:
        """The pools' order by the static rtt table, else distance, else list order: resolve()
        takes the first usable one in it. RTTs measured at run time are not part of it (a
        zone with measurements is decided per query: geo/compiled.py). Called for every
        distinct location in the database when compiled (~134k), so the distances are
        haversine_km's arithmetic step for step with each pool's half computed once."""
        facts = client.facts
        table = None
        if self.rtt:
            table = self.rtt.get(f"country:{facts.country}") if facts.country else None
            if table is None and facts.continent:
                table = self.rtt.get(f"continent:{facts.continent}")
        lat, lon = facts.lat, facts.lon
        pools = _pool_radians(tuple(p.location for p in self.members))
        if lat is not None:
            p1 = math.radians(lat)
            c1 = math.cos(p1)
        sin, radians = math.sin, math.radians
        costs = []
        for i, (pool, rad) in enumerate(zip(self.members, pools, strict=True)):
            if table is not None and pool.name in table:
                costs.append(table[pool.name])
            elif lat is not None and rad is not None:
                p2, c2, lon2 = rad
                a = sin((p2 - p1) / 2) ** 2 + c1 * c2 * sin(radians(lon2 - lon) / 2) ** 2
                costs.append(2 * 6371.0 * math.asin(math.sqrt(a)))
            else:
                costs.append(float(i) * 1e9)
        return tuple(sorted(range(len(costs)), key=costs.__getitem__))  # stable: ties by i

    def _costs(self, client, health) -> tuple[list[tuple[int, float]], list[str], int]:
        """Per pool (rank, cost) and where the cost came from: a measured RTT (rank 0, the
        most specific: network, ASN, country), else the static rtt table, else distance."""
        facts = client.facts
        measured = health.measured(self.members[0].zone)
        found = measured.find(client) if measured is not None else None
        table = None
        if facts.country and f"country:{facts.country}" in self.rtt:
            table = self.rtt[f"country:{facts.country}"]
        elif facts.continent and f"continent:{facts.continent}" in self.rtt:
            table = self.rtt[f"continent:{facts.continent}"]
        costs, sources = [], []
        for i, pool in enumerate(self.members):
            if found is not None and pool.name in found.costs:
                ms, label = found.costs[pool.name]
                costs.append((0, ms))
                sources.append(f"measured {label}")
            elif table is not None and pool.name in table:
                costs.append((1, table[pool.name]))
                sources.append("rtt table")
            elif facts.lat is not None and pool.location is not None:
                costs.append((1, haversine_km(facts.lat, facts.lon, *pool.location)))
                sources.append("distance")
            else:
                costs.append((1, float(i) * 1e9))
                sources.append("list order (no client location)")
        scope = found.scope if found is not None else facts.prefix_len
        return costs, sources, scope

    def resolve(self, client, health, rng, trace) -> base.Decision:
        costs, sources, scope = self._costs(client, health)
        order = sorted(range(len(self.members)), key=lambda i: (costs[i], i))
        spare = None
        for i in order:
            pool = self.members[i]
            if not base.pool_up(pool, health):
                continue
            if base.shed(pool, health):
                spare = i if spare is None else spare
                if trace is not None:
                    trace.append(
                        f"latency: skipped {pool.name} (shed{base.capacity_note(pool, health)})"
                    )
                continue
            if trace is not None:
                trace.append(_step(self.members, costs, sources, order, i))
            return base.with_options(base.Decision(pool, scope), self.options, scope)
        if spare is not None:  # only shed pools are up: shedding never leaves us with none
            if trace is not None:
                trace.append(_step(self.members, costs, sources, order, spare) + " (all shed)")
            d = base.Decision(self.members[spare], scope, healthy=False, shed=True)
            return base.with_options(d, self.options, scope)
        if self.options.nodata_when_all_down:
            if trace is not None:
                trace.append("latency: all down, when_all_down nodata")
            return base.Decision(None, scope, healthy=False)
        nearest = self.members[order[0]]
        if trace is not None:
            trace.append(f"latency: all down, failing open to nearest {nearest.name}")
        d = base.Decision(nearest, scope, failed_open=True, healthy=False)
        return base.with_options(d, self.options, scope)


def _step(members, costs, sources, order, chosen: int) -> str:
    """One trace line: every pool's cost with its unit, the choice and which source decided."""

    def shown(j: int) -> str:
        unit = " km" if sources[j] == "distance" else "" if sources[j][0] == "l" else " ms"
        return f"{members[j].name} {costs[j][1]:.0f}{unit}"

    listed = ", ".join(shown(j) for j in order)
    return f"latency by {sources[chosen]}: {listed} -> {members[chosen].name}"


def parse(raw: Any, options: base.Options, where, ctx, parse_node, depth: int) -> Latency | None:
    """The `latency:` list of pools, and the node's optional `rtt:` table."""
    body, rtt, where = raw[KEY], raw.get("rtt"), base.at(raw, KEY, where)
    if not isinstance(body, list) or not body:
        ctx.problems.add(where, "latency: must be a non-empty list of pools")
        return None
    members, ok = [], True
    for i, item in enumerate(body):
        at = base.at(body, i, where)
        if not isinstance(item, str):
            ctx.problems.add(at, "latency: members must be pool names (pools have the locations)")
            ok = False
            continue
        pool = parse_node(item, at, ctx, depth + 1)
        if pool is None:
            ok = False
        elif pool.location is None and not rtt:
            ctx.problems.add(at, f"latency: pool {pool.name!r} has no location")
            ok = False
        else:
            members.append(pool)
    table = _parse_rtt(rtt, where, ctx, {p.name for p in members})
    if not ok or table is None:
        return None
    return Latency(tuple(members), table, options)


def _parse_rtt(raw: Any, where, ctx, names: set[str]) -> dict[str, dict[str, float]] | None:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        ctx.problems.add(where, "rtt: must map country:/continent: keys to {pool: ms}")
        return None
    table, ok = {}, True
    for key, row in raw.items():
        at = base.at(raw, key, where)
        kind, _, code = str(key).partition(":")
        if kind not in ("country", "continent") or not code:
            ctx.problems.add(at, f"rtt: {key!r} must be country:XX or continent:XX")
            ok = False
            continue
        if not isinstance(row, dict) or not all(
            n in names and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            for n, v in row.items()
        ):
            ctx.problems.add(at, f"rtt: {key}: must map this latency's pools to numbers >= 0")
            ok = False
            continue
        table[f"{kind}:{code.upper()}"] = {str(n): float(v) for n, v in row.items()}
    return table if ok else None
