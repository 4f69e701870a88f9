"""Google Cloud DNS record sets (`gcloud dns record-sets export`/`list --format=json`, or the
API's `rrsets` list) -> a zone document.

A `routingPolicy` becomes a policy node: `geo` items are keyed by Google Cloud region and
Cloud DNS answers from the nearest one, so they become `latency` with each pool placed at
its region; `wrr` -> weighted; `primaryBackup` -> failover from the primary targets to the
backup geo items. Internal load balancer targets are answered and probed (TCP to the
balancer's address and port); external endpoints are probed by a Compute health check
resource that the export does not hold, so that check is reported.
"""

from __future__ import annotations

import contextlib
import sys
from fractions import Fraction
from math import lcm
from typing import Any

import dns.exception
import yaml

from geodns.importers import regions
from geodns.importers.report import (
    STATIC,
    ImportFailed,
    Report,
    ZoneDoc,
    absolute,
    parse_rdata,
    soa_fields,
    texts,
)

OPTIONS: tuple[str, ...] = ()
KNOWN = {"name", "type", "ttl", "rrdatas", "kind", "routingPolicy", "signatureRrdatas"}
POLICY_KEYS = {"geo", "wrr", "primaryBackup", "healthCheck", "kind"}
ITEM_KEYS = {"location", "weight", "rrdatas", "healthCheckedTargets", "signatureRrdatas", "kind"}
TARGET_KEYS = {"internalLoadBalancers", "externalEndpoints"}
ILB_KEYS = {"ipAddress", "port", "ipProtocol", "loadBalancerType", "networkUrl", "project"}
ILB_KEYS |= {"region", "kind"}


def _load(path: str) -> list[dict]:
    try:
        with (
            contextlib.nullcontext(sys.stdin) if path == "-" else open(path, encoding="utf-8") as fh
        ):
            docs = [d for d in yaml.safe_load_all(fh) if d is not None]  # JSON is YAML too
    except (OSError, yaml.YAMLError) as exc:
        raise ImportFailed(f"{path}: {exc}") from exc
    items: list[Any] = []
    for d in docs:
        items.extend(d if isinstance(d, list) else d.get("rrsets", [d]))
    if not all(isinstance(i, dict) and "name" in i and "type" in i for i in items):
        raise ImportFailed(f"{path}: expected Cloud DNS record sets (name, type, rrdatas)")
    return items


def read(path: str, zone: str | None, report: Report) -> ZoneDoc:
    items = _load(path)
    if zone is None:
        soa = [i["name"] for i in items if i["type"] == "SOA"]
        if not soa:
            raise ImportFailed(f"{path}: no SOA record set to name the zone: give --zone NAME")
        zone = soa[0]
    doc = ZoneDoc(absolute(zone))
    placed: dict[tuple[str, str], str] = {}  # (name, region) -> pool: A and AAAA meet there
    for item in items:
        where = f"{item['name']} {item['type']}"
        for key in sorted(set(item) - KNOWN):
            report.skip(where, f"field {key} not understood")
        if item.get("signatureRrdatas"):
            report.note(where, "signatures dropped: geodns signs the zones it serves itself")
        label = doc.label(absolute(item["name"]))
        if label is None:
            report.skip(where, f"outside the zone {doc.zone}")
        elif "routingPolicy" in item:
            _routed(doc, label, item, where, report, placed)
        else:
            _static(doc, label, item, where, report)
    return doc


def _rdatas(doc: ZoneDoc, kind: str, texts: list[str], where: str, report: Report) -> list:
    out = []
    for text in texts:
        try:
            out.append(parse_rdata(kind, text, doc.origin))
        except (dns.exception.DNSException, ValueError) as exc:
            report.skip(where, f"value {text!r}: {exc}")
    return out


def _static(doc: ZoneDoc, label: str, item: dict, where: str, report: Report) -> None:
    kind = item["type"]
    rdatas = _rdatas(doc, kind, item.get("rrdatas", []), where, report)
    if label == "@" and kind == "SOA" and rdatas:
        doc.soa = soa_fields(rdatas[0])
    elif label == "@" and kind == "NS":
        doc.ns = [rd.target.to_text() for rd in rdatas]
    elif kind not in STATIC:
        report.skip(where, f"geodns does not serve {kind} records")
    elif rdatas:
        values = texts(rdatas, where, report)
        if values:
            doc.add_static(label, kind, values, item.get("ttl", 300))


def _routed(doc: ZoneDoc, label: str, item: dict, where: str, report: Report, placed) -> None:
    policy = item["routingPolicy"]
    if item["type"] not in ("A", "AAAA"):
        report.skip(where, "geodns routes A and AAAA only (a policy answers them)")
        return
    have = doc.records.get(label, {})
    if any(k in have for k in ("latency", "weighted", "failover")):
        regions = {i.get("location") for i in (policy.get("geo") or {}).get("items", [])}
        before = {loc for (name, loc) in placed if name == label}
        if not ("latency" in have and set(policy) <= {"geo", "kind"} and regions == before):
            report.skip(where, "A and AAAA routed differently at one name: merge them by hand")
            return
    for key in sorted(set(policy) - POLICY_KEYS):
        report.skip(where, f"routingPolicy.{key} not understood")
    if policy.get("healthCheck"):
        report.skip(where, f"healthCheck {policy['healthCheck']}: a Compute resource not here")
    ctx = _Ctx(doc, label, item["type"], where, report, placed)
    node = None
    if "geo" in policy:
        node = ctx.geo(policy["geo"])
    elif "wrr" in policy:
        node = ctx.wrr(policy["wrr"])
    elif "primaryBackup" in policy:
        node = ctx.primary_backup(policy["primaryBackup"])
    if node and "latency" in have:  # the other family's geo items: one pool per region
        node = {"latency": list(dict.fromkeys([*have["latency"], *node["latency"]]))}
    if node:
        doc.add_policy(label, node, item.get("ttl"))
    else:
        report.skip(where, "no routing this importer can map (geo, wrr, primaryBackup)")


class _Ctx:
    def __init__(self, doc: ZoneDoc, label: str, kind: str, where: str, report: Report, placed):
        self.doc, self.label, self.kind, self.where, self.report = doc, label, kind, where, report
        self.placed = placed
        self.base = "apex" if label == "@" else label

    def pool(self, hint: str, rrdatas: list[str], targets: dict | None, place=None) -> str | None:
        """A pool answering the item's rrdatas and health-checked targets."""
        addrs = [
            rd.address for rd in _rdatas(self.doc, self.kind, rrdatas, self.where, self.report)
        ]
        body: dict[str, Any] = {}
        check = None
        self.unknown(targets or {}, TARGET_KEYS, "healthCheckedTargets")
        for ilb in (targets or {}).get("internalLoadBalancers", []):
            self.unknown(ilb, ILB_KEYS, "internalLoadBalancers")
            addrs.append(ilb["ipAddress"])
            check = self._ilb_check(ilb, check)
        for ext in (targets or {}).get("externalEndpoints", []):
            addrs.append(ext)
            self.report.skip(self.where, f"external endpoint {ext}: its health check is elsewhere")
        addrs = [a for a in dict.fromkeys(addrs) if (":" in a) == (self.kind == "AAAA")]
        if not addrs:
            return None
        known = self.placed.get((self.label, hint)) if place else None
        if known is not None:  # this region's pool holds the other family already
            self.doc.pools[known]["addresses"].extend(addrs)
            return known
        body["addresses"] = addrs
        if place:
            body["location"] = place
        if check:
            body["check"] = check
        name = self.doc.pool(f"{self.base}-{hint}", body)
        if place:
            self.placed[(self.label, hint)] = name
        return name

    def unknown(self, obj: dict, known: set[str], what: str) -> None:
        for key in sorted(set(obj) - known):
            self.report.skip(self.where, f"{what}.{key} not understood")

    def _ilb_check(self, ilb: dict, have: dict | None) -> dict | None:
        if str(ilb.get("ipProtocol", "tcp")).lower() != "tcp":
            self.report.skip(self.where, f"load balancer {ilb.get('ipAddress')}: UDP not probed")
            return have
        port = int(ilb.get("port", 80))
        check = {"type": "tcp", "port": port, "interval": "5s", "timeout": "2s"}
        if have and have != check:
            self.report.skip(self.where, "load balancers on different ports: the first one probed")
            return have
        return check

    def geo(self, geo: dict) -> dict | None:
        if geo.get("enableFencing"):
            self.report.skip(
                self.where,
                "enableFencing: Cloud DNS answers the nearest region even when all of it is "
                "down; geodns's latency moves to the next nearest healthy pool",
            )
        chosen = []
        for item in geo.get("items", []):
            self.unknown(item, ITEM_KEYS, "geo item")
            loc = item.get("location", "?")
            place = regions.location(regions.GCP, loc)
            if place is None:
                self.report.skip(self.where, f"region {loc!r} is not in geodns's region table")
                continue
            pool = self.pool(loc, item.get("rrdatas", []), item.get("healthCheckedTargets"), place)
            if pool:
                chosen.append(pool)
        return {"latency": chosen} if chosen else None

    def wrr(self, wrr: dict) -> dict | None:
        items = wrr.get("items", [])
        shares = [Fraction(str(i.get("weight", 0))).limit_denominator(1000) for i in items]
        scale = lcm(*(s.denominator for s in shares)) if shares else 1
        weights = {}
        for n, (item, share) in enumerate(zip(items, shares, strict=True)):
            self.unknown(item, ITEM_KEYS, "wrr item")
            pool = self.pool(f"w{n + 1}", item.get("rrdatas", []), item.get("healthCheckedTargets"))
            if pool:
                weights[pool] = int(share * scale)
        if weights and not any(weights.values()):
            weights = dict.fromkeys(weights, 1)
        return {"weighted": weights} if weights else None

    def primary_backup(self, pb: dict) -> dict | None:
        primary = self.pool("primary", [], pb.get("primaryTargets"))
        backup = self.geo(pb.get("backupGeoTargets") or {})
        if pb.get("trickleTraffic"):
            self.report.skip(
                self.where, f"trickleTraffic {pb['trickleTraffic']}: geodns sends none to backup"
            )
        chosen = [c for c in (primary, backup) if c]
        return {"failover": chosen} if chosen else None
