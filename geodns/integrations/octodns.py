"""octoDNS provider: `geodns.integrations.octodns.GeodnsProvider` (pip install 'geodns[octodns]').

    providers:
      geodns:
        class: geodns.integrations.octodns.GeodnsProvider
        url: http://127.0.0.1:8053
        token: env/GEODNS_TOKEN

Populate reads the zone document through the API; apply writes the whole new document
with one PUT carrying If-Match of the version populate read, so a sync is applied whole
or not at all, and a refusal shows the API's problems (path: message) to the user.
Mapping: integrations/octomap.py.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
from typing import Any

from octodns.provider.base import BaseProvider
from octodns.provider.plan import Plan
from octodns.record import Record, Update
from octodns.record.geo import GeoCodes

from geodns.integrations import octomap
from geodns.integrations.client import ApiError, ZoneClient
from geodns.zones.patch import absolute

HOSTS = ("CNAME", "PTR", "NS")


class GeodnsProvider(BaseProvider):
    SUPPORTS_GEO = False
    SUPPORTS_DYNAMIC = True
    SUPPORTS_DYNAMIC_SUBNETS = True
    SUPPORTS_POOL_VALUE_STATUS = True
    SUPPORTS_MULTIVALUE_PTR = True
    SUPPORTS_ROOT_NS = False
    SUPPORTS = {"A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT"}

    def __init__(self, id: str, url: str, token: str | None = None, **kwargs: Any) -> None:
        self.log = logging.getLogger(f"GeodnsProvider[{id}]")
        super().__init__(id, **kwargs)
        self.client = ZoneClient(url, token, client="octodns")
        self._seen: dict[str, tuple[dict, str | None]] = {}  # zone -> (document, version)

    # --- populate ------------------------------------------------------------------------

    def populate(self, zone: Any, target: bool = False, lenient: bool = False) -> bool:
        doc, version = self.client.get(zone.name)
        if doc is None:
            return False
        self._seen[zone.name] = (doc, version)
        for rel, node in (doc.get("records") or {}).items():
            if isinstance(node, dict):
                for rtype, data in self._records(zone.name, str(rel), node, doc).items():
                    name = "" if str(rel) == "@" else str(rel)
                    if name.endswith("."):
                        name = name[: -len(zone.name) - 1] if name != zone.name else ""
                    record = Record.new(zone, name, {"type": rtype, **data}, source=self)
                    zone.add_record(record, lenient=lenient)
        return True

    def _records(self, origin: str, rel: str, node: dict, doc: dict) -> dict[str, dict]:
        ttl = node.get("ttl", doc.get("ttl", 3600))
        out: dict[str, dict] = {}
        for rtype in [k for k in node if k in self.SUPPORTS]:
            raw = node[rtype] if isinstance(node[rtype], list) else [node[rtype]]
            values = [_octo_value(rtype, str(v), origin) for v in raw]
            out[rtype] = {"ttl": ttl, "values" if rtype != "CNAME" else "value": values}
            if rtype == "CNAME":
                out[rtype]["value"] = values[0]
        if set(node) - {"ttl"} - set(self.SUPPORTS) - {"DS"}:
            out.update(self._policy(rel, node, doc, ttl))
        return out

    def _policy(self, rel: str, node: dict, doc: dict, ttl: int) -> dict[str, dict]:
        pools = doc.get("pools") or {}
        part = {k: v for k, v in node.items() if k not in self.SUPPORTS and k != "DS"}
        try:
            families = octomap.dynamic(rel, part, pools, GeoCodes.country_to_code)
            check = _their_check(rel, pools, doc.get("checks") or {})
            octo = {"octodns": {"healthcheck": check}} if check else {}
            return {t: {"ttl": ttl, **data, **octo} for t, data in families.items()}
        except octomap.NotOurs:
            return _opaque(part, pools, doc.get("checks") or {}, ttl)

    # --- apply ---------------------------------------------------------------------------

    def _process_desired_zone(self, desired: Any) -> Any:
        """Pools hold addresses: a dynamic record of another type falls back to a plain
        one (or stops the sync, with strict_supports), as octoDNS providers do."""
        for record in desired.records:
            if getattr(record, "dynamic", None) and record._type not in ("A", "AAAA"):
                msg = f"dynamic {record._type} records not supported for {record.fqdn}"
                self.supports_warn_or_except(msg, "falling back to a simple record")
                record = record.copy()
                record.dynamic = None
                desired.add_record(record, replace=True)
        return super()._process_desired_zone(desired)

    def _extra_changes(self, existing: Any, desired: Any, changes: list) -> list:
        """octoDNS compares values, ttl and dynamic: the geodns payload and healthcheck too."""
        changed = {(c.record.name, c.record._type) for c in changes}
        have = {(r.name, r._type): r for r in existing.records}
        extra = []
        for record in desired.records:
            old = have.get((record.name, record._type))
            if old is None or (record.name, record._type) in changed:
                continue
            if _extras(old) != _extras(record):
                extra.append(Update(old, record))
        return extra

    def _apply(self, plan: Plan) -> None:
        zone = plan.desired.name
        doc, version = self._seen.get(zone) or self.client.get(zone)
        if doc is None:
            raise ApiError(404, {"error": f"no zone {zone}: create it first (PUT the API)"})
        new = copy.deepcopy(doc)
        names = {c.record.name for c in plan.changes}
        wanted = [r for r in plan.desired.records if r.name in names]
        for name in names:
            _render(new, zone, name, [r for r in wanted if r.name == name])
        self.client.put(zone, new, if_match=version)  # ApiError: the API's problems
        self._seen.pop(zone, None)


def _extras(record: Any) -> tuple:
    octo = getattr(record, "octodns", {}) or {}
    hc = None
    if "healthcheck" in octo:
        hc = (record.healthcheck_protocol, record.healthcheck_port, record.healthcheck_path)
        hc += (record.healthcheck_host(),)
    return octo.get(octomap.PAYLOAD), hc


def _render(doc: dict, zone: str, name: str, records: list) -> None:
    """The node (and its pools and check) of one name, rebuilt from the desired records."""
    fqdn = f"{name}.{zone}" if name else zone
    held = doc.setdefault("records", {})
    rel = next((k for k in held if absolute(str(k), zone) == fqdn), name or "@")
    pools, checks = doc.setdefault("pools", {}), doc.setdefault("checks", {})
    for section in (pools, checks):
        for key in [k for k in section if str(k).startswith(f"{rel}/")]:
            del section[key]
    node: dict[str, Any] = {}
    dynamic = {r._type: r for r in records if getattr(r, "dynamic", None)}
    opaque = next((r for r in records if (r.octodns or {}).get(octomap.PAYLOAD)), None)
    for record in records:
        if (
            record._type in dynamic
            or record is opaque
            or (record._type in ("A", "AAAA") and opaque)
        ):
            continue
        values = record.values if hasattr(record, "values") else [record.value]
        node[record._type] = [_geodns_value(record._type, v) for v in values]
        node["ttl"] = record.ttl
    if dynamic:
        node.update(_dynamic_node(str(rel), dynamic, pools, checks))
        node["ttl"] = next(iter(dynamic.values())).ttl
    if opaque is not None:
        payload = opaque.octodns[octomap.PAYLOAD]
        node.update(payload.get("node", {}))
        pools.update(payload.get("pools", {}))
        checks.update(payload.get("checks", {}))
        node["ttl"] = opaque.ttl
    if set(node) - {"ttl"}:
        held[rel] = node
    else:
        held.pop(rel, None)
    for section in ("pools", "checks"):
        if not doc[section]:
            del doc[section]


def _dynamic_node(rel: str, dynamic: dict, pools: dict, checks: dict) -> dict:
    families = {}
    for rtype, record in dynamic.items():
        families[rtype] = {
            "values": [str(v) for v in record.values],
            "dynamic": {
                "pools": {k: _plain(p.data) for k, p in record.dynamic.pools.items()},
                "rules": [dict(r.data) for r in record.dynamic.rules],
            },
        }
    first = next(iter(dynamic.values()))
    hc = None
    if "healthcheck" in (first.octodns or {}):
        hc = {"protocol": first.healthcheck_protocol, "port": first.healthcheck_port}
        if first.healthcheck_path is not None:
            hc["path"] = first.healthcheck_path
        if first.healthcheck_host():
            hc["host"] = first.healthcheck_host()
        checks[f"{rel}/check"] = octomap.check_of(hc)
    node, made = octomap.policy(rel, families, hc)
    pools.update(made)
    return node


def _plain(pool: dict) -> dict:
    out = {"values": [{**v, "value": str(v["value"])} for v in pool["values"]]}
    if pool.get("fallback"):
        out["fallback"] = pool["fallback"]
    return out


def _their_check(rel: str, pools: dict, checks: dict) -> dict | None:
    name = f"{rel}/check"
    if name in checks and any(p.get("check") == name for p in pools.values()):
        return octomap.healthcheck_of(checks[name])
    return None


def _opaque(part: dict, pools: dict, checks: dict, ttl: int) -> dict[str, dict]:
    """A geodns-only node as A/AAAA records of every address it can answer, carrying the
    node, its pools and their checks as the `octodns.geodns` payload."""
    names = octomap.referenced(part)
    held = {n: pools[n] for n in names if n in pools}
    used = {p.get("check") for p in held.values() if isinstance(p.get("check"), str)}
    payload = {"node": part, "pools": held, "checks": {c: checks[c] for c in used if c in checks}}
    out = {}
    addrs = [str(a) for p in held.values() for a in p.get("addresses", [])]
    for rtype, version in (("A", 4), ("AAAA", 6)):
        fam = sorted({a for a in addrs if ipaddress.ip_address(a).version == version})
        if fam:
            out[rtype] = {"ttl": ttl, "values": fam, "octodns": {octomap.PAYLOAD: payload}}
    return out


def _octo_value(rtype: str, text: str, origin: str) -> Any:
    """A zone document value as octoDNS writes it."""
    if rtype == "TXT":
        return text.replace("\\", "\\\\").replace(";", "\\;")
    parts = text.split()
    if rtype in HOSTS:
        return _abs(text, origin)
    if rtype == "MX":
        return {"preference": int(parts[0]), "exchange": _abs(parts[1], origin)}
    if rtype == "SRV":
        nums = [int(p) for p in parts[:3]]
        return dict(zip(("priority", "weight", "port"), nums, strict=True)) | {
            "target": _abs(parts[3], origin)
        }
    if rtype == "CAA":
        flags, tag, value = text.split(" ", 2)
        return {"flags": int(flags), "tag": tag, "value": value.strip('"')}
    return text


def _abs(name: str, origin: str) -> str:
    return name if name.endswith(".") else absolute(name, origin)


def _geodns_value(rtype: str, value: Any) -> str:
    """An octoDNS value as the zone document writes it."""
    if rtype == "TXT":
        return str(value).replace("\\;", ";").replace("\\\\", "\\")
    if rtype == "MX":
        return f"{value.preference} {value.exchange}"
    if rtype == "SRV":
        return f"{value.priority} {value.weight} {value.port} {value.target}"
    if rtype == "CAA":
        return f'{value.flags} {value.tag} "{value.value}"'
    return str(value)
