"""`aws route53 list-resource-record-sets` JSON -> a zone document.

Simple record sets become static records; the record sets that share a name and carry a
SetIdentifier become one policy node, each set one pool (its A and AAAA values together):
GeoLocation -> geo, Region (latency) and GeoProximityLocation -> latency (pools placed at
their AWS region), Weight -> weighted, Failover -> failover, MultiValueAnswer -> one pool
answering up to 8, CidrRoutingConfig -> geo `cidr:` rules. Alias records point at AWS
resources whose addresses this file does not hold: reported, never guessed.
"""

from __future__ import annotations

import re
from typing import Any

import dns.exception
import dns.name

from geodns.importers import awschecks, r53nodes, regions
from geodns.importers.report import (
    MAX_MULTIVALUE,
    STATIC,
    ImportFailed,
    Report,
    ZoneDoc,
    absolute,
    parse_rdata,
    soa_fields,
    texts,
)

KNOWN = {"Name", "Type", "TTL", "ResourceRecords", "SetIdentifier", "HealthCheckId"}
ROUTING = (
    "GeoLocation",
    "Region",
    "Weight",
    "Failover",
    "MultiValueAnswer",
    "CidrRoutingConfig",
    "GeoProximityLocation",
)
OPTIONS = ("health", "cidr")
TOP = {"ResourceRecordSets", "IsTruncated", "MaxItems", "NextRecordName", "NextRecordType"}


def read(
    path: str,
    zone: str | None,
    report: Report,
    health: str | None = None,
    cidr: list[str] | None = None,
) -> ZoneDoc:
    raw = awschecks.load_json(path)
    sets = raw.get("ResourceRecordSets") if isinstance(raw, dict) else raw
    if not isinstance(sets, list) or not all(isinstance(s, dict) and "Name" in s for s in sets):
        raise ImportFailed(f"{path}: expected list-resource-record-sets output")
    if isinstance(raw, dict):
        for key in sorted(set(raw) - TOP):
            report.skip(path, f"top-level field {key} not understood")
        if raw.get("IsTruncated"):
            report.skip(path, "IsTruncated: the listing is one page; pass the whole listing")
    doc = ZoneDoc(_origin(sets, zone, path))
    ctx = _Ctx(doc, report, awschecks.load_health(health), awschecks.load_cidr(cidr))
    ctx.collections = {
        s["CidrRoutingConfig"].get("CollectionId") for s in sets if "CidrRoutingConfig" in s
    }
    routed: dict[str, list[dict]] = {}
    for rrset in sets:
        where = _where(rrset)
        for key in sorted(set(rrset) - KNOWN - set(ROUTING) - {"AliasTarget"}):
            report.skip(where, f"field {key} has no geodns equivalent")
        if "AliasTarget" in rrset:
            target = rrset["AliasTarget"].get("DNSName", "?")
            report.skip(where, f"alias to {target}: its addresses are not in this export")
        elif "TrafficPolicyInstanceId" in rrset:
            continue  # reported above as an unknown field: the policy document is elsewhere
        elif "SetIdentifier" in rrset:
            routed.setdefault(rrset["Name"].lower(), []).append(rrset)
        else:
            _static(ctx, rrset, where)
    for name, group in routed.items():
        _routed(ctx, name, group)
    return doc


class _Ctx:
    def __init__(self, doc: ZoneDoc, report: Report, health: dict, cidr: dict) -> None:
        self.doc, self.report, self.health, self.cidr = doc, report, health, cidr
        self.collections: set[str | None] = set()


def _name(text: str) -> dns.name.Name:
    """Route 53 writes characters outside a-z0-9-_ as three-digit OCTAL escapes (`\\052` is
    `*`), where the DNS presentation format reads three digits as decimal."""
    return absolute(re.sub(r"\\([0-7]{3})", lambda m: f"\\{int(m.group(1), 8):03d}", text))


def _origin(sets: list[dict], zone: str | None, path: str) -> dns.name.Name:
    if zone:
        return absolute(zone)
    soa = [s["Name"] for s in sets if s.get("Type") == "SOA"]
    if not soa:
        raise ImportFailed(f"{path}: no SOA record set to name the zone: give --zone NAME")
    return _name(soa[0])


_where = r53nodes.where


def _values(ctx: _Ctx, rrset: dict, where: str) -> list[Any]:
    out = []
    for item in rrset.get("ResourceRecords", []):
        try:
            out.append(parse_rdata(rrset["Type"], item["Value"], ctx.doc.origin))
        except (dns.exception.DNSException, KeyError, ValueError) as exc:
            ctx.report.skip(where, f"value {item!r}: {exc}")
    return out


def _static(ctx: _Ctx, rrset: dict, where: str) -> None:
    doc, kind = ctx.doc, rrset.get("Type")
    label = doc.label(_name(rrset["Name"]))
    if label is None:
        ctx.report.skip(where, f"outside the zone {doc.zone}")
        return
    rdatas = _values(ctx, rrset, where)
    if label == "@" and kind == "SOA" and rdatas:
        doc.soa = soa_fields(rdatas[0])
    elif label == "@" and kind == "NS":
        doc.ns = [rd.target.to_text() for rd in rdatas]
    elif kind not in STATIC:
        ctx.report.skip(where, f"geodns does not serve {kind} records")
    else:
        values = texts(rdatas, where, ctx.report)
        if values:
            doc.add_static(label, kind, values, rrset.get("TTL", 300))


def _routing(rrset: dict) -> str | None:
    found = [k for k in ROUTING if k in rrset]
    return found[0] if len(found) == 1 else None


def _routed(ctx: _Ctx, name: str, group: list[dict]) -> None:
    """One name's routed sets -> pools (per SetIdentifier) and one policy node."""
    label = ctx.doc.label(_name(name))
    kinds = {_routing(s) for s in group if s["Type"] in ("A", "AAAA")}
    for rrset in group:
        if rrset["Type"] not in ("A", "AAAA"):
            ctx.report.skip(_where(rrset), "geodns routes A and AAAA only (a policy answers them)")
    if label is None or len(kinds) != 1 or None in kinds:
        why = "outside the zone" if label is None else f"routing kinds {sorted(map(str, kinds))}"
        for rrset in group:
            if rrset["Type"] in ("A", "AAAA"):
                ctx.report.skip(_where(rrset), f"{why}: one name takes one routing kind here")
        return
    kind = kinds.pop()
    idents = {t: {s["SetIdentifier"] for s in group if s["Type"] == t} for t in ("A", "AAAA")}
    families = ("A", "AAAA")
    if all(idents.values()) and idents["A"] != idents["AAAA"]:
        families = ("A",)  # a pool answers both: the AAAA sets must sit in the same places
        for rrset in (s for s in group if s["Type"] == "AAAA"):
            ctx.report.skip(_where(rrset), "AAAA sets differ from the A sets: one pool holds both")
    members: dict[str, dict] = {}
    for rrset in (s for s in group if s["Type"] in families):
        member = members.setdefault(rrset["SetIdentifier"], {"sets": [], "addresses": []})
        member["sets"].append(rrset)
        rdatas = _values(ctx, rrset, _where(rrset))
        member["addresses"].extend(rd.address for rd in rdatas)
    if kind == "MultiValueAnswer":
        _multivalue(ctx, label, members)
        return
    pools = {ident: _pool(ctx, label, ident, m) for ident, m in members.items()}
    node = r53nodes.BUILDERS[kind](ctx, {i: m["sets"][0] for i, m in members.items()}, pools)
    if node:
        ttl = next(s.get("TTL") for s in group if s["Type"] in ("A", "AAAA"))
        ctx.doc.add_policy(label, node, ttl)


def _pool(ctx: _Ctx, label: str, ident: str, member: dict) -> str | None:
    first = member["sets"][0]
    if not member["addresses"]:
        return None
    body: dict[str, Any] = {"addresses": member["addresses"]}
    place = _place(ctx, first)
    if place:
        body["location"] = place
    hc = first.get("HealthCheckId")
    if hc:
        spec = _check(ctx, hc, member["addresses"], _where(first))
        if spec:
            body["check"] = spec
    return ctx.doc.pool(f"{'apex' if label == '@' else label}-{ident}", body)


def _check(ctx: _Ctx, hc: str, addresses: list[str], where: str) -> dict | None:
    config = ctx.health.get(hc)
    if config is None:
        why = "not in --health's file" if ctx.health else "pass --health (list-health-checks)"
        ctx.report.skip(where, f"health check {hc}: {why}")
        return None
    return awschecks.check(hc, config, addresses, where, ctx.report)


def _place(ctx: _Ctx, rrset: dict) -> dict | None:
    region = rrset.get("Region")
    prox = rrset.get("GeoProximityLocation")
    if prox:
        coords = prox.get("Coordinates")
        if coords:
            return {"lat": float(coords["Latitude"]), "lon": float(coords["Longitude"])}
        region = prox.get("AWSRegion")
        if prox.get("Bias"):
            ctx.report.skip(_where(rrset), f"geoproximity Bias {prox['Bias']}: no geodns bias")
        if prox.get("LocalZoneGroup"):
            ctx.report.skip(_where(rrset), "geoproximity LocalZoneGroup: not on geodns's map")
    if region is None:
        return None
    place = regions.location(regions.AWS, region)
    if place is None:
        ctx.report.skip(_where(rrset), f"AWS region {region!r} is not in geodns's region table")
    return place


def _multivalue(ctx: _Ctx, label: str, members: dict[str, dict]) -> None:
    """Every value in one pool (each address its own member), answering up to 8 healthy."""
    addresses = [a for m in members.values() for a in m["addresses"]]
    checks = {}
    for member in members.values():
        first = member["sets"][0]
        hc = first.get("HealthCheckId")
        spec = _check(ctx, hc, member["addresses"], _where(first)) if hc else None
        checks[_where(first)] = spec
    body: dict[str, Any] = {"addresses": list(dict.fromkeys(addresses))}
    specs = list(checks.values())
    if specs and all(s == specs[0] for s in specs) and specs[0]:
        body["check"] = specs[0]  # each address probed itself, as each record's check did
    elif any(specs):
        for where, spec in checks.items():
            if spec:
                ctx.report.skip(where, "multivalue health checks differ: one check per pool here")
    pool = ctx.doc.pool(f"{'apex' if label == '@' else label}-multivalue", body)
    ttl = next(iter(members.values()))["sets"][0].get("TTL")
    ctx.doc.add_policy(label, {"failover": [pool], "max_answers": MAX_MULTIVALUE}, ttl)
