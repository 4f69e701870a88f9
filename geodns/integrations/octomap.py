"""octoDNS record data <-> zone document nodes (no octoDNS import: plain dicts both ways).

A dynamic A/AAAA record becomes a geo policy: each rule's geos and subnets are keys
(`EU` continent:EU, `NA-US` country:US, `NA-US-CA` subdivision:US-CA, a subnet cidr:...,
the catch-all default) leading to `{failover: [pool, its fallbacks..., <name>/values]}`,
each octoDNS pool a `weighted` node over one geodns pool per value (`<name>/<pool>/<i>`,
status up/down in the name: `:up`, `:down:<weight>` with weight 0), the record's own
values the last resort, as octoDNS has them. An explicit octodns.healthcheck is the
check `<name>/check` of every obeying value's pool. octoDNS's rule rules (a pool targeted
once, subnets before geos, nothing more specific after its parent) make its first match
the same as geodns's most specific match. Reading back decodes exactly this shape;
anything else is a geodns-only node and travels as the opaque `octodns.geodns` payload.
"""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

PAYLOAD = "geodns"


def check_of(hc: dict) -> dict:
    """octoDNS healthcheck (resolved: host, path, port, protocol) -> a geodns check."""
    proto = str(hc.get("protocol", "HTTPS")).lower()
    out: dict[str, Any] = {"type": proto, "port": int(hc.get("port", 443))}
    if proto in ("http", "https"):
        out["path"] = hc.get("path", "/_dns")
        if hc.get("host"):
            out["host"] = hc["host"]
    return out


def healthcheck_of(check: dict) -> dict:
    out = {"protocol": str(check.get("type", "https")).upper(), "port": check.get("port", 443)}
    for key in ("path", "host"):
        if key in check:
            out[key] = check[key]
    return out


# --- dynamic -> policy -------------------------------------------------------------------


def policy(rel: str, families: dict[str, dict], healthcheck: dict | None) -> tuple[dict, dict]:
    """(the geo node, {pool name: pool}) for the dynamic records at one name; `families`
    maps "A"/"AAAA" to that record's data (dynamic, values); their shapes must agree."""
    first = next(iter(families.values()))
    dyn = first["dynamic"]
    if any(_shape(d["dynamic"]) != _shape(dyn) for d in families.values()):
        raise ValueError(
            f"{rel}: dynamic A and AAAA at one name need the same pools, value counts, "
            "weights, status and rules (one geodns pool holds value i of both)"
        )
    pools: dict[str, dict] = {f"{rel}/values": {"addresses": []}}
    for data in families.values():
        pools[f"{rel}/values"]["addresses"] += list(data["values"])
    own = {}
    for name, pool in dyn["pools"].items():
        members = {}
        for i, item in enumerate(pool["values"]):
            status, weight = item.get("status", "obey"), item.get("weight", 1)
            key = f"{rel}/{name}/{i}" + {"obey": "", "up": ":up"}.get(status, f":down:{weight}")
            addrs = [d["dynamic"]["pools"][name]["values"][i]["value"] for d in families.values()]
            body: dict[str, Any] = {"addresses": addrs}
            if healthcheck is not None and status == "obey":
                body["check"] = f"{rel}/check"
            pools[key] = body
            members[key] = 0 if status == "down" else weight
        own[name] = {"weighted": members}
    geo: dict[str, Any] = {}
    for rule in dyn["rules"]:
        chain, at = [], rule["pool"]
        while at is not None:
            chain.append(own[at])
            at = dyn["pools"][at].get("fallback")
        node = {"failover": [*chain, f"{rel}/values"]}
        keys = [_geo_key(g) for g in rule.get("geos", [])]
        keys += [f"cidr:{s}" for s in rule.get("subnets", [])]
        for key in keys or ["default"]:
            geo[key] = node
    return {"geo": geo}, pools


def _shape(dyn: dict) -> tuple:
    pools = {
        name: (
            pool.get("fallback"),
            [(v.get("weight", 1), v.get("status")) for v in pool["values"]],
        )
        for name, pool in dyn["pools"].items()
    }
    return pools, dyn["rules"]


def _geo_key(code: str) -> str:
    parts = code.split("-")
    if len(parts) == 1:
        return f"continent:{parts[0]}"
    if len(parts) == 2:
        return f"country:{parts[1]}"
    return f"subdivision:{parts[1]}-{parts[2]}"


# --- policy -> dynamic ---------------------------------------------------------------------


class NotOurs(Exception):
    """The node is not in the shape `policy` writes: a geodns-only node."""


def dynamic(rel: str, node: dict, pools: dict, country_code: Any) -> dict[str, dict]:
    """The inverse of `policy`: {"A"/"AAAA": {"values", "dynamic"}}; NotOurs otherwise.
    `country_code("US")` -> "NA-US" (octoDNS's GeoCodes.country_to_code)."""
    if set(node) - {"geo", "ttl"} or not isinstance(node.get("geo"), dict):
        raise NotOurs()
    last = f"{rel}/values"
    if last not in pools:
        raise NotOurs()
    out_pools: dict[str, dict] = {}
    rules: list[dict] = []
    by_pool: dict[str, dict] = {}
    for key, sub in node["geo"].items():
        chain = _chain(rel, sub, last)
        for name, members in chain:
            out_pools.setdefault(name, {"members": members})
        for (name, _), (nxt, _) in itertools.pairwise(chain):
            out_pools[name]["fallback"] = nxt
        head = chain[0][0]
        if key == "default":
            default = {"pool": head}
            continue
        rule = by_pool.get(head)
        if rule is None:
            rule = by_pool[head] = {"pool": head}
            rules.append(rule)
        kind, _, value = key.partition(":")
        if kind == "cidr":
            rule.setdefault("subnets", []).append(value)
        else:
            rule.setdefault("geos", []).append(_geo_code(kind, value, country_code))
    if "default" not in node["geo"]:
        raise NotOurs()
    rules.append(default)
    return _families(out_pools, rules, pools, last)


def _chain(rel: str, sub: Any, last: str) -> list[tuple[str, dict]]:
    items = sub.get("failover") if isinstance(sub, dict) and set(sub) == {"failover"} else None
    if not isinstance(items, list) or len(items) < 2 or items[-1] != last:
        raise NotOurs()
    chain = []
    for item in items[:-1]:
        if not isinstance(item, dict) or set(item) != {"weighted"}:
            raise NotOurs()
        names = {str(k).split("/")[1] if str(k).count("/") == 2 else None for k in item["weighted"]}
        if len(names) != 1 or None in names:
            raise NotOurs()
        if not all(str(k).startswith(f"{rel}/") for k in item["weighted"]):
            raise NotOurs()
        chain.append((names.pop(), item["weighted"]))
    return chain


def _geo_code(kind: str, value: str, country_code: Any) -> str:
    if kind == "continent":
        return value
    if kind == "country":
        return country_code(value) or value
    if kind == "subdivision":
        country, _, sub = value.partition("-")
        return f"{country_code(country) or country}-{sub}"
    raise NotOurs()


def _families(out_pools: dict, rules: list, pools: dict, last: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for family, version in (("A", 4), ("AAAA", 6)):
        values = _of(pools[last].get("addresses", []), version)
        dyn_pools = {}
        for name, info in out_pools.items():
            items = []
            for key, weight in info["members"].items():
                addrs = _of((pools.get(key) or {}).get("addresses", []), version)
                status, weight = _status(str(key), weight)
                items += [{"value": a, "weight": weight, "status": status} for a in addrs]
            entry: dict[str, Any] = {"values": items}
            if info.get("fallback"):
                entry["fallback"] = info["fallback"]
            dyn_pools[name] = entry
        if values and all(p["values"] for p in dyn_pools.values()):
            for rule in rules:
                for field in ("geos", "subnets"):
                    if field in rule:
                        rule[field] = sorted(rule[field])
            out[family] = {"values": values, "dynamic": {"pools": dyn_pools, "rules": rules}}
    if not out:
        raise NotOurs()
    return out


def _status(key: str, weight: Any) -> tuple[str, Any]:
    if key.endswith(":up"):
        return "up", weight
    if ":down:" in key:
        return "down", int(key.rpartition(":down:")[2])
    return "obey", weight


def _of(addrs: list, version: int) -> list[str]:
    return sorted(str(a) for a in addrs if ipaddress.ip_address(str(a)).version == version)


def referenced(node: Any) -> list[str]:
    """Every pool name a policy node names, in order, once."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if value not in found:
                found.append(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key == "weighted" and isinstance(item, dict):
                    for pool in item:
                        walk(pool)
                elif key in ("geo", "failover", "latency") or ":" in str(key) or key == "default":
                    walk(item)

    walk(node)
    return found
