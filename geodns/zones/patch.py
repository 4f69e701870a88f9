"""PATCH on a zone document: PowerDNS-style rrsets, and pools/checks/records by name.

`{"rrsets": [{"name", "type", "ttl", "changetype": "REPLACE"|"DELETE", "records":
[{"content"}]}], "pools": {name: pool|null}, "checks": {...}, "records": {...}}`. The zone
format keeps one TTL per name, so an rrset's `ttl` sets its name's. What comes out is a
new document; whether it is a valid zone is the compile's to say (document.check).
"""

from __future__ import annotations

import copy
from typing import Any

BODY_KEYS = ("rrsets", "pools", "checks", "records")
RRSET_KEYS = ("name", "type", "ttl", "changetype", "records")
CHANGETYPES = ("REPLACE", "DELETE")

Problems = list[dict[str, str]]


def apply(doc: dict, body: Any, zone: str) -> tuple[dict, Problems]:
    """The document with the patch applied (a copy), and every problem of the body."""
    problems: Problems = []
    if not isinstance(body, dict):
        return doc, [{"path": "", "message": "a PATCH body must be a JSON object"}]
    for key in body:
        if key not in BODY_KEYS:
            problems.append(
                {"path": str(key), "message": f"unknown key (known: {', '.join(BODY_KEYS)})"}
            )
    new = copy.deepcopy(doc)
    for section in ("checks", "pools", "records"):
        _by_name(new, section, body.get(section), zone, problems)
    rrsets = body.get("rrsets", [])
    if not isinstance(rrsets, list):
        problems.append({"path": "rrsets", "message": "must be a list of rrsets"})
        rrsets = []
    for i, rrset in enumerate(rrsets):
        _rrset(new, rrset, zone, f"rrsets[{i}]", problems)
    return new, problems


def _by_name(doc: dict, section: str, changes: Any, zone: str, problems: Problems) -> None:
    if changes is None:
        return
    if not isinstance(changes, dict):
        problems.append({"path": section, "message": "must be a mapping of name to value|null"})
        return
    held = doc.get(section)
    if not isinstance(held, dict):
        held = doc[section] = {}
    for name, value in changes.items():
        key = (_same_key(held, name, zone) if section == "records" else None) or name
        if value is None:
            held.pop(key, None)
        else:
            held[key] = value


def absolute(name: str, zone: str) -> str:
    """A records key or rrset name as an absolute lower-case name."""
    name = str(name).strip().lower()
    if name == "@":
        return zone
    return name if name.endswith(".") else f"{name}.{zone}"


def relative(name: str, zone: str) -> str:
    """The shortest records key for an absolute name inside the zone (outside: as given)."""
    lower = name.lower()
    if lower == zone:
        return "@"
    return lower[: -len(zone) - 1] if lower.endswith("." + zone) else name


def _same_key(records: dict, name: str, zone: str) -> str | None:
    """The key already naming this owner (written relative or absolute), if any."""
    wanted = absolute(name, zone)
    return next((k for k in records if absolute(k, zone) == wanted), None)


def _rrset(doc: dict, rrset: Any, zone: str, path: str, problems: Problems) -> None:
    if not isinstance(rrset, dict):
        problems.append({"path": path, "message": "an rrset must be an object"})
        return
    bad = [k for k in rrset if k not in RRSET_KEYS]
    for key in bad:
        message = f"unknown key (known: {', '.join(RRSET_KEYS)})"
        problems.append({"path": f"{path}.{key}", "message": message})
    name, rtype, change = rrset.get("name"), rrset.get("type"), rrset.get("changetype")
    ttl, contents = rrset.get("ttl"), _contents(rrset.get("records", []), path, problems)
    before = len(problems)
    if not isinstance(name, str) or not name:
        problems.append({"path": f"{path}.name", "message": "a name is required"})
    elif absolute(name, zone) != zone and not absolute(name, zone).endswith("." + zone):
        problems.append({"path": f"{path}.name", "message": f"{name} is outside the zone {zone}"})
    if not isinstance(rtype, str) or not rtype:
        problems.append({"path": f"{path}.type", "message": "a record type is required"})
    if change not in CHANGETYPES:
        message = f"must be one of {', '.join(CHANGETYPES)}, got {change!r}"
        problems.append({"path": f"{path}.changetype", "message": message})
    if ttl is not None and (type(ttl) is not int or ttl < 0):
        problems.append({"path": f"{path}.ttl", "message": "must be a non-negative integer"})
    if bad or len(problems) > before or contents is None:
        return
    _apply_rrset(doc, absolute(name, zone), rtype.upper(), ttl, change, contents, zone)


def _contents(records: Any, path: str, problems: Problems) -> list[str] | None:
    if not isinstance(records, list):
        problems.append({"path": f"{path}.records", "message": "must be a list"})
        return None
    out = []
    for i, record in enumerate(records):
        at = f"{path}.records[{i}]"
        if not isinstance(record, dict) or set(record) - {"content", "disabled"}:
            problems.append({"path": at, "message": 'must be {"content": "..."}'})
            return None
        if not isinstance(record.get("content"), str) or record.get("disabled"):
            problems.append({"path": f"{at}.content", "message": "must be a string"})
            return None
        out.append(record["content"])
    return out


def _apply_rrset(
    doc: dict, name: str, rtype: str, ttl: int | None, change: str, contents: list[str], zone: str
) -> None:
    records = doc.get("records")
    if not isinstance(records, dict):
        records = doc["records"] = {}
    key = _same_key(records, name, zone) or relative(name, zone)
    node = records.get(key)
    node = dict(node) if isinstance(node, dict) else {}
    for held in [k for k in node if isinstance(k, str) and k.upper() == rtype]:
        del node[held]
    if change == "REPLACE" and contents:
        node[rtype] = contents
        if ttl is not None:
            node["ttl"] = ttl
    if set(node) - {"ttl"}:
        records[key] = node
    else:
        records.pop(key, None)


def record_diff(old: dict | None, new: dict | None) -> list[dict]:
    """What changed between two documents, entry by entry: records, pools and checks by
    name, other top-level keys whole. Each {"section", "name", "op", "old", "new"}."""
    old, new = old or {}, new or {}
    out: list[dict] = []
    for section in ("records", "pools", "checks"):
        a, b = old.get(section) or {}, new.get(section) or {}
        for name in sorted({*a, *b}, key=str):
            if a.get(name) != b.get(name):
                op = "add" if name not in a else "remove" if name not in b else "change"
                old_value, new_value = a.get(name), b.get(name)
                out.append(
                    {"section": section, "name": name, "op": op, "old": old_value, "new": new_value}
                )
    for key in sorted({*old, *new} - {"records", "pools", "checks"}):
        if old.get(key) != new.get(key):
            op = "add" if key not in old else "remove" if key not in new else "change"
            out.append(
                {"section": key, "name": "", "op": op, "old": old.get(key), "new": new.get(key)}
            )
    return out


def summary(old: dict | None, new: dict | None) -> str:
    """One line for the audit log and the history: `records +new ~www; pools -old`."""
    if new is None:
        return "zone deleted"
    if old is None:
        return "zone created"
    signs = {"add": "+", "remove": "-", "change": "~"}
    parts: dict[str, list[str]] = {}
    for item in record_diff(old, new):
        parts.setdefault(item["section"], []).append(signs[item["op"]] + str(item["name"]))
    if not parts:
        return "no change"
    line = "; ".join(f"{section} {' '.join(names)}".strip() for section, names in parts.items())
    return line if len(line) <= 200 else line[:197] + "..."
