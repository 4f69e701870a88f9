"""The record diff: which rrsets, pools, checks and policy nodes two zone documents change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geodns import policies

SECTIONS = (("pools", "pool"), ("checks", "check"))


def record_diff(old: Mapping | None, new: Mapping | None) -> list[dict]:
    """One entry per changed node of two zone documents (the zone file schema as a dict, as
    yaml.safe_load gives it; None: the zone does not exist on that side): {"path", "name",
    "type", "action": "add"|"remove"|"change", "old", "new"}. Static data is diffed per
    rrset (name and type; the name's ttl travels with each), a name's policy as one node,
    pools and checks by name, the header (zone, ttl, soa, ns, anything else) by key."""
    old, new = old or {}, new or {}
    out: list[dict] = []
    for key in sorted(set(old) | set(new), key=str):
        if key in ("pools", "checks", "records"):
            continue
        out += _entry(str(key), str(key), "zone", old.get(key), new.get(key))
    for section, kind in SECTIONS:
        before, after = _mapping(old.get(section)), _mapping(new.get(section))
        for name in sorted(set(before) | set(after), key=str):
            path = f"{section}.{name}"
            out += _entry(path, str(name), kind, before.get(name), after.get(name))
    origin = str(new.get("zone") or old.get("zone") or "")
    before, after = _mapping(old.get("records")), _mapping(new.get("records"))
    for label in sorted(set(before) | set(after), key=str):
        out += _name_diff(str(label), origin, before.get(label), after.get(label))
    return out


def _mapping(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _entry(path: str, name: str, kind: str, old: Any, new: Any) -> list[dict]:
    if old == new:
        return []
    action = "add" if old is None else "remove" if new is None else "change"
    return [{"path": path, "name": name, "type": kind, "action": action, "old": old, "new": new}]


def owner_name(label: str, origin: str) -> str:
    """A records: key as a fully qualified, lower-case name ("www" -> "www.zone.")."""
    origin = origin.strip().lower().rstrip(".") + "."
    label = label.strip().lower()
    if label in ("@", ""):
        return origin
    if label.endswith("."):
        return label
    return f"{label}.{origin}" if origin != "." else f"{label}."


def split_node(body: Any) -> dict[str, Any]:
    """A records: entry as {TYPE: {"ttl", "records"}, "policy": {...}}: what is diffed."""
    if not isinstance(body, Mapping):
        return {"?": body} if body is not None else {}
    keys = policies.node_keys()
    ttl = body.get("ttl")
    parts: dict[str, Any] = {}
    policy = {k: v for k, v in body.items() if k in keys}
    if policy:
        parts["policy"] = {**policy, **({"ttl": ttl} if ttl is not None else {})}
    for key, value in body.items():
        if key == "ttl" or key in keys:
            continue
        records = value if isinstance(value, list) else [value]
        parts[str(key).upper()] = {"ttl": ttl, "records": records}
    return parts


def _name_diff(label: str, origin: str, old: Any, new: Any) -> list[dict]:
    before, after = split_node(old), split_node(new)
    name = owner_name(label, origin)
    out: list[dict] = []
    for kind in sorted(set(before) | set(after)):
        out += _entry(f"records.{label}.{kind}", name, kind, before.get(kind), after.get(kind))
    return out
