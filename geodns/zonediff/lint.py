"""`geodns lint`: what a zone's policies do that its author may not mean (not errors).

Per policy name: the countries and continents that fall through to `default`, failover
members without a health check (so the failover never moves), pools whose weight is 0 in
every weighted node, and branches and pools that can never be chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from geodns import names
from geodns.geo import compiled
from geodns.model import Pool, Zone
from geodns.policies.failover import Failover
from geodns.policies.geo import Geo
from geodns.policies.iso import CONTINENTS
from geodns.policies.weighted import Weighted

INFO, WARNING = "info", "warning"


def finding(name: str, kind: str, severity: str, message: str, **extra: Any) -> dict:
    return {"name": name, "kind": kind, "severity": severity, "message": message, **extra}


def places(dbs: compiled.Databases | None) -> dict[str, set[str]]:
    """Continent -> the countries the GeoIP database places in it ({} without one)."""
    out: dict[str, set[str]] = {}
    if dbs is None or dbs.city is None:
        return out
    for continent, country, *_ in dbs.places:
        if continent is not None:
            out.setdefault(continent, set())
            if country is not None:
                out[continent].add(country)
    return out


def lint(zones: Iterable[Zone], dbs: compiled.Databases | None = None) -> list[dict]:
    """Every finding over these zones; `dbs` (the GeoIP databases) lets it name countries."""
    world = places(dbs)
    out: list[dict] = []
    for zone in zones:
        used: set[str] = set()
        zero = _zero_everywhere(zone.policies.values())
        for owner, tree in zone.policies.items():
            name = names.wire_to_text(owner)
            for path, node in _nodes(tree, _kind(tree)):
                out += _node_findings(name, path, node, world, zero)
            used |= {p.name for p in _pools(tree)}
        for pool in sorted(set(zone.pools) - used):
            message = f"pool {pool} is used by no policy: it can never be chosen"
            out.append(finding(zone.origin_text, "never-chosen", WARNING, message, pool=pool))
    return out


def _nodes(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Pool):
        return
    yield path, node
    for i, child in enumerate(node.children()):
        yield from _nodes(child, f"{path}[{i}].{_kind(child)}")


def _kind(node: Any) -> str:
    """The node's policy key, for a finding's path ("geo[0].failover")."""
    if isinstance(node, Pool):
        return node.name
    return {Geo: "geo", Failover: "failover", Weighted: "weighted"}.get(type(node), "latency")


def _pools(node: Any) -> Iterator[Pool]:
    if isinstance(node, Pool):
        yield node
        return
    for child in node.children():
        yield from _pools(child)


def _label(child: Any) -> str:
    return child.name if isinstance(child, Pool) else _kind(child)


def always_up(node: Any) -> bool:
    """No health check can take it down: an unchecked pool, or a failover/weighted node
    with such a pool (weighted: of weight above 0) among its members."""
    if isinstance(node, Pool):
        return node.check is None
    if isinstance(node, Failover):
        return any(always_up(m) for m in node.members)
    if isinstance(node, Weighted):
        return any(w > 0 and always_up(m) for m, w in zip(node.members, node.weights, strict=True))
    return False


def _zero_everywhere(trees: Iterable[Any]) -> set[str]:
    """Pools that appear only in weighted nodes, with weight 0 in each."""
    weights: dict[str, list[int]] = {}
    elsewhere: set[str] = set()
    for tree in trees:
        for _, node in _nodes(tree, ""):
            members = node.members if isinstance(node, Weighted) else ()
            for pool, weight in zip(members, getattr(node, "weights", ()), strict=False):
                if isinstance(pool, Pool):
                    weights.setdefault(pool.name, []).append(weight)
            for child in node.children() if not isinstance(node, Weighted) else ():
                if isinstance(child, Pool):
                    elsewhere.add(child.name)
    return {p for p, ws in weights.items() if not any(ws) and p not in elsewhere}


def _node_findings(name: str, path: str, node: Any, world: dict, zero: set[str]) -> list[dict]:
    if isinstance(node, Geo):
        return _geo(name, path, node, world)
    if isinstance(node, Failover):
        return _failover(name, path, node)
    if isinstance(node, Weighted):
        return _weighted(name, path, node, zero)
    return []


def _geo(name: str, path: str, node: Geo, world: dict) -> list[dict]:
    """Where clients go that no rule names (default, or NODATA without one), and rules that
    can never match or are wholly shadowed by more specific ones."""
    out: list[dict] = []
    target = _label(node.default.child) if node.default else "NODATA (no default)"
    continents = sorted(CONTINENTS - set(node.continent))
    countries = sorted(
        c for continent in continents for c in world.get(continent, ()) if c not in node.country
    )
    covered = [_except(k, world.get(k, set()) & set(node.country)) for k in continents]
    if continents:
        message = f"{path}: continents {', '.join(covered)} fall through to {target}"
        if world:
            message += f" ({len(countries)} countries)"
        severity = INFO if node.default else WARNING
        out.append(
            finding(
                name,
                "default-fallthrough",
                severity,
                message,
                path=path,
                continents=continents,
                countries=countries,
                to=target,
            )
        )
    for continent, rule in sorted(node.continent.items()):
        inside = world.get(continent)
        if inside and inside <= set(node.country):
            message = f"{path}: {rule.label} is never chosen: every country in it has a rule"
            out.append(finding(name, "never-chosen", WARNING, message, path=path))
    known = set().union(*world.values()) if world else set()
    for country, rule in sorted(node.country.items()):
        if known and country not in known:
            message = f"{path}: {rule.label} is never chosen: the GeoIP database has no {country}"
            out.append(finding(name, "never-chosen", WARNING, message, path=path))
    return out


def _except(continent: str, named: set[str]) -> str:
    return f"{continent} (except {', '.join(sorted(named))})" if named else continent


def _failover(name: str, path: str, node: Failover) -> list[dict]:
    out: list[dict] = []
    for i, member in enumerate(node.members[:-1]):
        if not always_up(member):
            continue
        label = _label(member)
        message = f"{path}: {label} has no health check, so the failover never leaves it"
        out.append(finding(name, "unchecked-failover", WARNING, message, path=path, pool=label))
        later = ", ".join(_label(m) for m in node.members[i + 1 :])
        message = f"{path}: {later} can never be chosen (behind {label}, which is never down)"
        out.append(finding(name, "never-chosen", WARNING, message, path=path))
        break
    return out


def _weighted(name: str, path: str, node: Weighted, zero: set[str]) -> list[dict]:
    out: list[dict] = []
    for member, weight in zip(node.members, node.weights, strict=True):
        if weight == 0 and member.name in zero:
            message = f"{path}: pool {member.name} has weight 0 everywhere it is used"
            out.append(finding(name, "zero-weight", WARNING, message, path=path, pool=member.name))
    live = [m for m, w in zip(node.members, node.weights, strict=True) if w > 0]
    if any(always_up(m) for m in live):
        for member, weight in zip(node.members, node.weights, strict=True):
            if weight == 0:
                message = (
                    f"{path}: {member.name} (weight 0) can never be chosen: a pool of "
                    "weight above 0 has no health check and is never down"
                )
                out.append(finding(name, "never-chosen", WARNING, message, path=path))
    return out
