"""Route 53 health checks (`aws route53 list-health-checks`) and CIDR collections
(`aws route53 list-cidr-blocks`) -> geodns checks and `cidr:` networks.

A Route 53 endpoint check passes on any 2xx or 3xx status within 4 s of connecting, does
not verify TLS certificates, and uses FailureThreshold for both directions; the checks
written here say the same. Calculated, CloudWatch-alarm and recovery-control checks watch
something other than an endpoint geodns could probe: they are listed, never guessed.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from typing import Any

from geodns.importers.report import ImportFailed, Report

# Route 53 counts 2xx and 3xx as healthy; geodns lists the codes (these are the ones servers send).
EXPECT = [200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 307, 308]
KINDS = {
    "HTTP": "http",
    "HTTPS": "https",
    "HTTP_STR_MATCH": "http",
    "HTTPS_STR_MATCH": "https",
    "TCP": "tcp",
}
KNOWN = {
    "IPAddress",
    "Port",
    "Type",
    "ResourcePath",
    "FullyQualifiedDomainName",
    "SearchString",
    "RequestInterval",
    "FailureThreshold",
    "MeasureLatency",
    "Inverted",
    "Disabled",
    "EnableSNI",
    "Regions",
}


def load_json(path: str) -> Any:
    """A JSON file, or standard input for `-` (`aws ... | geodns import route53 -`)."""
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise ImportFailed(f"{path}: {exc}") from exc


def load_health(path: str | None) -> dict[str, dict]:
    """Health check id -> its HealthCheckConfig, from list-health-checks' JSON."""
    if path is None:
        return {}
    raw = load_json(path)
    items = raw.get("HealthChecks") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise ImportFailed(f"{path}: expected list-health-checks output (HealthChecks: [...])")
    return {hc["Id"]: hc.get("HealthCheckConfig", {}) for hc in items if "Id" in hc}


def load_cidr(paths: list[str] | None) -> dict[str | None, dict[str, list[str]]]:
    """Collection id (None: any) -> location name -> its networks, from list-cidr-blocks'
    JSON (CidrBlocks: [...]). That output names no collection: give `ID=FILE` when the
    zone routes by more than one."""
    out: dict[str | None, dict[str, list[str]]] = {}
    for given in paths or []:
        ident, _, path = given.rpartition("=") if "=" in given else (None, "", given)
        raw = load_json(path)
        items = raw.get("CidrBlocks") if isinstance(raw, dict) else raw
        if not isinstance(items, list):
            raise ImportFailed(f"{path}: expected list-cidr-blocks output (CidrBlocks: [...])")
        locations = out.setdefault(ident or None, {})
        for item in items:
            try:
                net = str(ipaddress.ip_network(item["CidrBlock"], strict=False))
            except (KeyError, TypeError, ValueError) as exc:
                raise ImportFailed(f"{path}: bad CIDR block {item!r}") from exc
            locations.setdefault(item.get("LocationName", ""), []).append(net)
    return out


def check(hc_id: str, config: dict, addresses: list[str], where: str, report: Report):
    """A pool's inline check for a Route 53 health check, or None (reported)."""
    kind = config.get("Type")
    if kind not in KINDS:
        report.skip(where, f"health check {hc_id}: type {kind} watches no endpoint geodns probes")
        return None
    if config.get("Inverted"):
        report.skip(where, f"health check {hc_id}: inverted checks have no geodns equivalent")
        return None
    if config.get("Disabled"):
        report.note(
            where, f"health check {hc_id} is disabled: Route 53 counts it healthy; no check"
        )
        return None
    for key in sorted(set(config) - KNOWN):
        report.skip(where, f"health check {hc_id}: field {key} has no geodns equivalent")
    out: dict[str, Any] = {"type": KINDS[kind]}
    if config.get("Port"):
        out["port"] = config["Port"]
    if out["type"] != "tcp":
        out["path"] = config.get("ResourcePath") or "/"
        out["expect"] = EXPECT
        if kind.endswith("_STR_MATCH"):
            out["contains"] = config.get("SearchString", "")
        if out["type"] == "https":
            out["tls_verify"] = False  # Route 53 does not validate certificates
    ip, fqdn = config.get("IPAddress"), config.get("FullyQualifiedDomainName")
    if ip and fqdn and out["type"] != "tcp":
        out["host"] = fqdn
    if ip and addresses != [ip]:
        out["target"] = ip  # the one address Route 53 probes decides for the whole set
    elif not ip and fqdn:
        out["target"] = fqdn
    interval = config.get("RequestInterval", 30)
    threshold = config.get("FailureThreshold", 3)
    out.update(interval=f"{interval}s", timeout="4s", rise=threshold, fall=threshold)
    return out
