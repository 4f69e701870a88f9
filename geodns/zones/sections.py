"""The `pools:` and `records:` sections of a zone file -> Pools, RRSets and policy nodes."""

from __future__ import annotations

import ipaddress
from typing import Any

from geodns import policies
from geodns.errors import Where
from geodns.model import CapacitySpec, Pool
from geodns.zones import checkspec, yamlio
from geodns.zones.records import RecordContext, parse_rrset
from geodns.zones.state import FileState, at

STATIC_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "PTR", "DS")
POOL_KEYS = ("addresses", "location", "check", "min_healthy", "capacity")


def pools(ld: FileState, raw: yamlio.LineDict) -> dict[str, Pool]:
    """Every well-formed pool of the file by name (the broken ones only as problems)."""
    checks = checkspec.parse_templates(raw.get("checks"), at(raw, "checks", raw.where), ld)
    found: dict[str, Pool] = {}
    section = raw.get("pools") or {}
    where = at(raw, "pools", raw.where)
    if not isinstance(section, dict):
        ld.add(where, "pools: must be a mapping of pool name to pool")
        return found
    for name, body in section.items():
        pool = _pool(ld, str(name), body, at(section, name, where), checks)
        if pool is not None:
            found[str(name)] = pool
    return found


def _pool(ld: FileState, name: str, body: Any, where: Where, checks: dict) -> Pool | None:
    if not isinstance(body, dict):
        ld.add(where, f"pool {name!r}: must be a mapping with addresses")
        return None
    for key in body:
        if key not in POOL_KEYS:
            ld.add(at(body, key, where), f"pool {name!r}: unknown key {key!r}")
    addrs = body.get("addresses")
    if isinstance(addrs, str):
        addrs = [addrs]
    if not isinstance(addrs, list) or not addrs:
        ld.add(at(body, "addresses", where), f"pool {name!r}: addresses must be a non-empty list")
        return None
    out: list[str] = []
    for i, text in enumerate(addrs):
        try:
            addr = str(ipaddress.ip_address(str(text)))
        except ValueError:
            ld.add(at(addrs, i, where), f"pool {name!r}: {text!r} is not an IP address")
            continue
        if addr in out:
            ld.add(at(addrs, i, where), f"pool {name!r}: address {addr} listed twice")
        else:
            out.append(addr)
    location = _location(ld, name, body.get("location"), at(body, "location", where))
    check = None
    if body.get("check") is not None:
        check = checkspec.resolve(body["check"], at(body, "check", where), checks, ld)
    floor = _min_healthy(ld, name, body.get("min_healthy"), at(body, "min_healthy", where), out)
    capacity = _capacity(ld, name, body.get("capacity"), at(body, "capacity", where))
    return Pool(ld.origin_text, name, tuple(out), location, check, floor, capacity)


def _capacity(ld: FileState, name: str, raw: Any, where: Where) -> CapacitySpec | None:
    """`capacity: {query: PromQL, low: 0.7, high: 0.95}`: the load that starts and ends the
    pool's share (steer/capacity.py polls the query; policies read the factor)."""
    if raw is None:
        return None
    bad = f"pool {name!r}: capacity must be {{query: PromQL, low: number, high: number > low}}"
    if not isinstance(raw, dict) or set(raw) - {"query", "low", "high"}:
        ld.add(where, bad)
        return None
    query, low, high = raw.get("query"), raw.get("low", 0.7), raw.get("high", 0.95)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not isinstance(query, str) or not query.strip() or not numbers or not low < high:
        ld.add(where, bad)
        return None
    return CapacitySpec(query.strip(), float(low), float(high))


def _min_healthy(ld: FileState, name: str, raw: Any, where: Where, addrs: list) -> int | str | None:
    """`min_healthy: N` (at most the pool's size) or `"50%"`: the floor a drain may not cross."""
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= len(addrs):
        return raw
    text = str(raw).strip()
    if isinstance(raw, str) and text[-1:] == "%" and text[:-1].isdigit() and int(text[:-1]) <= 100:
        return text
    ld.add(where, f"pool {name!r}: min_healthy must be 0..{len(addrs)} or a percentage like '50%'")
    return None


def _location(ld: FileState, name: str, raw: Any, where: Where) -> tuple[float, float] | None:
    if raw is None:
        return None
    try:
        lat, lon = float(raw["lat"]), float(raw["lon"])
        if set(raw) != {"lat", "lon"} or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        ld.add(where, f"pool {name!r}: location must be {{lat: -90..90, lon: -180..180}}")
        return None
    return (lat, lon)


def records(
    ld: FileState, raw: yamlio.LineDict, pools: dict[str, Pool], zone: dict
) -> dict[bytes, Where]:
    """Fill zone["rrsets"], ["policies"] and ["policy_ttls"]; returns where each owner stood."""
    seen: dict[bytes, Where] = {}
    section = raw.get("records") or {}
    where = at(raw, "records", raw.where)
    if not isinstance(section, dict):
        ld.add(where, "records: must be a mapping of name to records")
        return seen
    ctx = RecordContext(ld.origin, ld.origin_text, ld.name, ld.add)
    for key, body in section.items():
        key_at = at(section, key, where)
        owner = ld.name(key, key_at, owner=True)
        if owner is None:
            continue
        if owner in seen:
            ld.add(key_at, f"{key!r}: the same name as line {seen[owner].line}")
            continue
        seen[owner] = key_at
        if not isinstance(body, dict):
            ld.add(key_at, f"{key!r}: must be a mapping of record type to data")
            continue
        _name_records(ld, ctx, owner, str(key), body, key_at, pools, zone)
        section[key] = None  # done with it: a big zone's parse tree shrinks as it goes
    return seen


def _name_records(
    ld: FileState,
    ctx: RecordContext,
    owner: bytes,
    label: str,
    body: Any,
    where: Where,
    pools: dict[str, Pool],
    zone: dict,
) -> None:
    ttl = ld.ttl
    if "ttl" in body:
        ttl = ld.ttl_value(body["ttl"], body.at("ttl"), label) or ld.ttl
    node_raw = None
    for key, value in body.items():
        if key == "ttl":
            continue
        kat = body.at(key)
        if key in ld.node_keys:
            if node_raw is None:
                node_raw = yamlio.LineDict()
                node_raw.where = where
            node_raw[key] = value
            node_raw.key_where[key] = kat
            continue
        upper = key.upper() if type(key) is str else str(key).upper()
        if upper not in STATIC_TYPES:
            known = ", ".join([*STATIC_TYPES, *policies.REGISTRY, "ttl"])
            ld.add(kat, f"{label!r}: unknown record type or key {key!r} (known: {known})")
            continue
        rrset = parse_rrset(ctx, upper, value, ttl, kat, label)
        if rrset is not None:
            sets = zone["rrsets"].get(owner)
            if sets is None:
                sets = zone["rrsets"][owner] = {}
            sets[rrset.rtype] = rrset
    if node_raw is None:
        return
    if any(k in node_raw for k in policies.REGISTRY):
        node = _policy(ld, node_raw, where, pools)
        if node is not None:
            zone["policies"][owner] = node
            zone["policy_ttls"][owner] = ttl
    else:
        ld.add(where, f"{label!r}: {', '.join(node_raw)} given without a policy")


def _policy(ld: FileState, raw: yamlio.LineDict, where: Where, pools: dict[str, Pool]) -> Any:
    """Parse a policy node; identical blocks share one parsed (immutable) tree."""
    shape = _shape(raw)
    found = ld.policy_cache.get(shape) if shape is not None else None
    if found is not None:
        return found
    before = len(ld.problems)
    ctx = policies.ParseContext(zone=ld.origin_text, pools=pools, problems=ld.problems)
    node = policies.parse_node(raw, where, ctx)  # the name's ttl is in zone.policy_ttls
    if node is not None and shape is not None and len(ld.problems) == before:
        ld.policy_cache[shape] = node
    return node


_SCALARS = (str, int, float, bool, type(None))


def _shape(raw: Any) -> Any:
    """A hashable copy of a YAML value (types kept: 1, 1.0 and True differ); None if odd."""
    if isinstance(raw, dict):
        items = []
        for key, value in raw.items():
            inner = _shape(value)
            if inner is None or type(key) not in _SCALARS:
                return None
            items.append((type(key), key, inner))
        return (dict, tuple(items))
    if isinstance(raw, list):
        items = []
        for value in raw:
            inner = _shape(value)
            if inner is None:
                return None
            items.append(inner)
        return (list, tuple(items))
    if type(raw) in _SCALARS:
        return (type(raw), raw)
    return None
