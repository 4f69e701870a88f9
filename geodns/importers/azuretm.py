"""Azure Traffic Manager profiles (ARM/`az network traffic-manager profile show` JSON) -> policy
nodes in a zone document (Azure DNS zones themselves come over through `bind`).

Each top profile becomes the name `dnsConfig.relativeName` in the zone given with --zone:
Priority -> failover, Weighted -> weighted, Performance -> latency (pools at their Azure
region), Geographic -> geo (WORLD -> default), Subnet -> geo `cidr:` rules (an endpoint
without subnets is the catch-all default), MultiValue -> one pool answering maxReturn.
Nested endpoints whose child profile is in the same file become nested policy nodes.
Endpoints that are Azure resources or host names carry no address here: reported.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from geodns.importers import awschecks, regions
from geodns.importers.report import ImportFailed, Report, ZoneDoc, absolute
from geodns.policies.iso import COUNTRIES, is_subdivision

OPTIONS: tuple[str, ...] = ()
# Azure's geographic region codes that are continents (GEO-AP, Australia/Pacific, is Oceania).
GEO_REGIONS = {
    "GEO-EU": "EU",
    "GEO-NA": "NA",
    "GEO-SA": "SA",
    "GEO-AS": "AS",
    "GEO-AF": "AF",
    "GEO-AN": "AN",
    "GEO-AP": "OC",
}
PROFILE_KEYS = {"id", "name", "type", "location", "tags", "properties", "resourceGroup"}
SETTINGS = {
    "profileStatus",
    "trafficRoutingMethod",
    "dnsConfig",
    "monitorConfig",
    "endpoints",
    "maxReturn",
    "trafficViewEnrollmentStatus",
    "allowedEndpointRecordTypes",
}
ENDPOINT_KEYS = {"id", "name", "type", "properties", "resourceGroup"}
ENDPOINT_SETTINGS = {
    "target",
    "targetResourceId",
    "endpointStatus",
    "endpointMonitorStatus",
    "weight",
    "priority",
    "endpointLocation",
    "geoMapping",
    "subnets",
    "minChildEndpoints",
    "minChildEndpointsIPv4",
    "minChildEndpointsIPv6",
    "alwaysServe",
}
MONITOR = {
    "protocol",
    "port",
    "path",
    "intervalInSeconds",
    "timeoutInSeconds",
    "toleratedNumberOfFailures",
    "expectedStatusCodeRanges",
    "customHeaders",
    "profileMonitorStatus",
}


def _settings(obj: dict) -> dict:
    """ARM keeps settings under `properties`; the az CLI prints them flat."""
    return obj.get("properties") or {k: v for k, v in obj.items() if k not in ("id", "name")}


def _child_name(resource_id: object) -> str:
    """A nested profile's name from its resource id, or from an ARM template's expression
    `[resourceId('Microsoft.Network/trafficManagerProfiles', 'child')]`."""
    text = str(resource_id or "")
    quoted = re.findall(r"'([^']*)'", text) if text.startswith("[") else []
    return (quoted[-1] if quoted else text.rsplit("/", 1)[-1]).lower()


def _profiles(path: str) -> list[dict]:
    raw = awschecks.load_json(path)
    items = raw.get("resources", raw.get("value", [raw])) if isinstance(raw, dict) else raw
    found = [
        p
        for p in items
        if isinstance(p, dict) and "trafficmanagerprofiles" in str(p.get("type", "")).lower()
    ]
    if not found:
        raise ImportFailed(f"{path}: no Traffic Manager profile in the file")
    return found


def read(path: str, zone: str | None, report: Report) -> ZoneDoc:
    if not zone:
        raise ImportFailed("a Traffic Manager profile names no zone: give --zone NAME")
    profiles = _profiles(path)
    by_name = {p.get("name", "").lower(): p for p in profiles}
    nested = {
        _child_name(_settings(e).get("targetResourceId"))
        for p in profiles
        for e in _settings(p).get("endpoints", [])
        if "nestedendpoints" in str(e.get("type", "")).lower()
    }
    doc = ZoneDoc(absolute(zone))
    for profile in profiles:
        if profile.get("name", "").lower() in nested:
            continue
        s = _settings(profile)
        label = (s.get("dnsConfig") or {}).get("relativeName") or profile.get("name")
        walker = _Walker(doc, by_name, report, str(label))
        node = walker.profile(profile, 0)
        if node:
            doc.add_policy(str(label), node, (s.get("dnsConfig") or {}).get("ttl"))
    return doc


class _Walker:
    def __init__(self, doc: ZoneDoc, by_name: dict, report: Report, label: str) -> None:
        self.doc, self.by_name, self.report, self.label = doc, by_name, report, label

    def profile(self, profile: dict, depth: int) -> dict | None:
        name, s = profile.get("name", "?"), _settings(profile)
        where = f"profile {name}"
        for key in sorted(
            set(profile) - PROFILE_KEYS - (SETTINGS if "properties" not in profile else set())
        ):
            self.report.skip(where, f"field {key} not understood")
        for key in sorted(set(s) - SETTINGS - PROFILE_KEYS):
            self.report.skip(where, f"field {key} not understood")
        if s.get("profileStatus", "Enabled") != "Enabled":
            self.report.skip(where, "profile disabled: Azure answers NXDOMAIN for it")
            return None
        method = s.get("trafficRoutingMethod")
        check = _check(s.get("monitorConfig") or {}, where, self.report)
        children = []
        for endpoint in s.get("endpoints", []):
            child = self.endpoint(endpoint, method, check, depth)
            if child is not None:
                children.append((endpoint, child))
        build = METHODS.get(method)
        if build is None:
            self.report.skip(where, f"routing method {method!r} not understood")
            return None
        return build(self, children, s, where) if children else None

    def endpoint(self, endpoint: dict, method: str, check: dict | None, depth: int):
        s, kind = _settings(endpoint), str(endpoint.get("type", "")).lower()
        where = f"endpoint {endpoint.get('name', '?')}"
        for key in sorted(set(s) - ENDPOINT_SETTINGS - ENDPOINT_KEYS):
            self.report.skip(where, f"field {key} not understood")
        if s.get("endpointStatus", "Enabled") != "Enabled":
            self.report.note(
                where, "disabled in the profile: not imported (Azure never answers it)"
            )
            return None
        if "nestedendpoints" in kind:
            return self.nested(s, where, depth)
        target = s.get("target", "")
        try:
            address = str(ipaddress.ip_address(target))
        except ValueError:
            why = "an Azure resource" if "azureendpoints" in kind else f"host name {target!r}"
            self.report.skip(where, f"{why}: geodns pools answer addresses, not names")
            return None
        body: dict[str, Any] = {"addresses": [address]}
        if method == "Performance":
            place = regions.location(regions.AZURE, str(s.get("endpointLocation", "")))
            if place is None:
                self.report.skip(where, f"location {s.get('endpointLocation')!r} not on the map")
                return None
            body["location"] = place
        if check and s.get("alwaysServe", "Disabled") != "Enabled":
            body["check"] = check
        return self.doc.pool(f"{self.label}-{endpoint.get('name', 'endpoint')}", body)

    def nested(self, s: dict, where: str, depth: int) -> dict | None:
        child = self.by_name.get(_child_name(s.get("targetResourceId")))
        if child is None:
            self.report.skip(where, f"nested profile {s.get('targetResourceId')}: not in the file")
            return None
        if int(s.get("minChildEndpoints", 1)) > 1:
            self.report.skip(where, f"minChildEndpoints {s['minChildEndpoints']}: geodns takes 1")
        return self.profile(child, depth + 1)


def _check(monitor: dict, where: str, report: Report) -> dict | None:
    """The profile's monitor as a pool check (Azure: degraded after tolerated+1 failures)."""
    if not monitor:
        return None
    for key in sorted(set(monitor) - MONITOR):
        report.skip(where, f"monitorConfig.{key} not understood")
    kind = str(monitor.get("protocol", "HTTP")).lower()
    out: dict[str, Any] = {"type": kind, "port": monitor.get("port", 80)}
    if kind != "tcp":
        out["path"] = monitor.get("path", "/")
        codes = []
        for r in monitor.get("expectedStatusCodeRanges") or [{"min": 200, "max": 200}]:
            codes.extend(range(int(r["min"]), int(r["max"]) + 1))
        out["expect"] = codes
        if kind == "https":
            out["tls_verify"] = False  # Traffic Manager does not validate certificates
    for header in monitor.get("customHeaders") or []:
        if str(header.get("name", "")).lower() == "host":
            out["host"] = header["value"]
        else:
            report.skip(where, f"monitor header {header.get('name')}: geodns sends only Host")
    interval = int(monitor.get("intervalInSeconds", 30))
    timeout = min(int(monitor.get("timeoutInSeconds", 10)), interval)
    fall = int(monitor.get("toleratedNumberOfFailures", 3)) + 1
    out.update(interval=f"{interval}s", timeout=f"{timeout}s", rise=1, fall=fall)
    return out


def _pools_only(walker: _Walker, children: list, where: str, method: str) -> list:
    kept = [(e, c) for e, c in children if isinstance(c, str)]
    if len(kept) < len(children):
        walker.report.skip(where, f"{method}: nested profiles under it need a pool here")
    return kept


def _priority(walker: _Walker, children: list, s: dict, where: str) -> dict:
    ordered = sorted(children, key=lambda ec: int(_settings(ec[0]).get("priority", 1000)))
    return {"failover": [c for _, c in ordered]}


def _weighted(walker: _Walker, children: list, s: dict, where: str) -> dict | None:
    kept = _pools_only(walker, children, where, "Weighted")
    weights = {c: int(_settings(e).get("weight", 1)) for e, c in kept}
    return {"weighted": weights} if weights else None


def _performance(walker: _Walker, children: list, s: dict, where: str) -> dict | None:
    kept = _pools_only(walker, children, where, "Performance")
    return {"latency": [c for _, c in kept]} if kept else None


def _geographic(walker: _Walker, children: list, s: dict, where: str) -> dict | None:
    rules: dict[str, Any] = {}
    for endpoint, child in children:
        for code in _settings(endpoint).get("geoMapping", []):
            key = _geo_key(str(code).upper())
            if key is None:
                walker.report.skip(where, f"geographic code {code!r}: not a place geodns names")
            else:
                rules[key] = child
    return {"geo": rules} if rules else None


def _geo_key(code: str) -> str | None:
    if code == "WORLD":
        return "default"
    if code in GEO_REGIONS:
        return f"continent:{GEO_REGIONS[code]}"
    if code in COUNTRIES:
        return f"country:{code}"
    return f"subdivision:{code}" if is_subdivision(code) else None


def _subnet(walker: _Walker, children: list, s: dict, where: str) -> dict | None:
    rules: dict[str, Any] = {}
    for endpoint, child in children:
        subnets = _settings(endpoint).get("subnets") or []
        if not subnets:
            rules["default"] = child
        for sub in subnets:
            first = ipaddress.ip_address(sub["first"])
            if sub.get("scope") is not None:
                nets = [ipaddress.ip_network(f"{first}/{sub['scope']}", strict=False)]
            else:
                last = ipaddress.ip_address(sub.get("last", sub["first"]))
                nets = list(ipaddress.summarize_address_range(first, last))
            rules.update({f"cidr:{n}": child for n in nets})
    return {"geo": rules} if rules else None


def _multivalue(walker: _Walker, children: list, s: dict, where: str) -> dict | None:
    kept = _pools_only(walker, children, where, "MultiValue")
    addresses = [a for _, c in kept for a in walker.doc.pools[c]["addresses"]]
    check = next((walker.doc.pools[c].get("check") for _, c in kept), None)
    for _, c in kept:
        del walker.doc.pools[c]
    body: dict[str, Any] = {"addresses": addresses}
    if check:
        body["check"] = check
    pool = walker.doc.pool(f"{walker.label}-multivalue", body)
    return {"failover": [pool], "max_answers": int(s.get("maxReturn", 8))}


METHODS = {
    "Priority": _priority,
    "Weighted": _weighted,
    "Performance": _performance,
    "Geographic": _geographic,
    "Subnet": _subnet,
    "MultiValue": _multivalue,
}
