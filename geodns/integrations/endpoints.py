"""external-dns endpoints <-> zone documents: static records, and set-identified A/AAAA
endpoints as pools of a geo or weighted policy (no I/O; the webhook server calls this).

An endpoint with `setIdentifier` puts its targets in a pool: `geodns/pool` names it (a
pool written by hand keeps its check and location), else `<name>/<setIdentifier>`; with
`geodns/geo` (rule keys, comma separated: `continent:EU,country:GB`, `default`) the
name's policy is geo, else weighted by `geodns/weight` (default 1). A TXT endpoint with a
setIdentifier (the TXT registry's ownership records) keeps it at the end of its text as
`,geodns/set-identifier=ID`. /adjustendpoints writes desired endpoints as GET /records
will read them back, so external-dns plans no change once they are in.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from geodns.zones.patch import absolute, relative

POOLED = ("A", "AAAA")
STATIC = ("A", "AAAA", "CNAME", "TXT", "MX", "SRV", "CAA", "PTR", "NS", "DS")
SET_ID = ",geodns/set-identifier="
PROPS = ("geodns/geo", "geodns/pool", "geodns/weight")


class BadChange(ValueError):
    """Endpoints that cannot be written: every problem as {path, message}."""

    def __init__(self, problems: list[dict]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p['path']}: {p['message']}" for p in problems))


def _props(ep: dict) -> dict[str, str]:
    """providerSpecific by name; `webhook/geodns-geo` (what the annotation
    external-dns.alpha.kubernetes.io/webhook-geodns-geo arrives as) is `geodns/geo`."""
    out = {}
    for prop in ep.get("providerSpecific") or []:
        name = str(prop.get("name", ""))
        if name.startswith("webhook/geodns-"):
            name = "geodns/" + name.removeprefix("webhook/geodns-")
        out[name] = str(prop.get("value"))
    return out


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text


def adjust(ep: dict) -> dict:
    """One endpoint as GET /records would give it back once written."""
    name, rtype = str(ep.get("dnsName", "")).lower().rstrip("."), str(ep.get("recordType", ""))
    targets = [str(t) for t in ep.get("targets") or []]
    if rtype == "TXT":
        targets = [quote(unquote(t)) for t in targets]
    targets = [host_target(rtype, t, None) for t in targets]
    out: dict[str, Any] = {"dnsName": name, "targets": sorted(set(targets)), "recordType": rtype}
    sid, props = str(ep.get("setIdentifier") or ""), _props(ep)
    if sid and rtype in POOLED:
        if props.get("geodns/pool"):
            sid = props["geodns/pool"]  # the pool names the set (GET says so too)
        if "geodns/geo" in props:
            keys = sorted({k.strip() for k in props["geodns/geo"].split(",") if k.strip()})
            props["geodns/geo"] = ",".join(keys)
            props.pop("geodns/weight", None)
        else:
            props["geodns/weight"] = str(_weight(props.get("geodns/weight")))
        kept = [{"name": k, "value": props[k]} for k in PROPS if k in props]
        out["providerSpecific"] = kept
    if sid:
        out["setIdentifier"] = sid
    if int(ep.get("recordTTL") or 0) > 0:
        out["recordTTL"] = int(ep["recordTTL"])
    return out


def _weight(value: Any) -> int:
    try:
        return max(int(str(value if value is not None else 1)), 0)
    except ValueError:
        return 1


HOSTS = ("CNAME", "NS", "PTR", "MX", "SRV")  # the last field of these names a host


def host_target(rtype: str, text: str, zone: str | None) -> str:
    """A target's host as external-dns writes it (absolute, no trailing dot) when `zone`
    is None, else as the zone document needs it (with the dot: a name without one is
    relative to the zone there)."""
    if rtype not in HOSTS:
        return text
    head, _, host = text.rpartition(" ")
    if zone is None:
        host = host.rstrip(".") if host.endswith(".") else host
    elif not host.endswith("."):
        host += "."
    return f"{head} {host}" if head else host


def key(ep: dict) -> tuple[str, str, str]:
    return (ep["dnsName"], ep["recordType"], ep.get("setIdentifier", ""))


# --- the document as endpoints ----------------------------------------------------------


def endpoints(doc: dict, zone: str) -> list[dict]:
    """Every endpoint the document holds in a form external-dns knows (apex NS/SOA and
    policies other than a geo or weighted over plain pools are not shown)."""
    out: list[dict] = []
    pools = doc.get("pools") or {}
    for rel, node in (doc.get("records") or {}).items():
        name = absolute(str(rel), zone).rstrip(".")
        if isinstance(node, dict):
            out += _node_endpoints(name, str(rel), node, pools, zone)
    return out


def _ttl(ep: dict, node: dict) -> dict:
    if isinstance(node.get("ttl"), int) and node["ttl"] > 0:
        ep["recordTTL"] = node["ttl"]
    return ep


def _node_endpoints(name: str, rel: str, node: dict, pools: dict, zone: str) -> list[dict]:
    out: list[dict] = []
    for rtype in [k for k in node if k in STATIC]:
        values = [str(v) for v in (node[rtype] if isinstance(node[rtype], list) else [node[rtype]])]
        values = [host_target(rtype, _in_zone(rtype, v, zone), None) for v in values]
        if rtype == "TXT":
            out += _txt_endpoints(name, values, node)
        elif values:
            out.append(
                _ttl({"dnsName": name, "targets": sorted(values), "recordType": rtype}, node)
            )
    kind = "geo" if isinstance(node.get("geo"), dict) else None
    kind = kind or ("weighted" if isinstance(node.get("weighted"), dict) else None)
    plain = str if kind == "geo" else int  # pool names, or weights of pools
    if kind is None or not all(isinstance(v, plain) for v in node[kind].values()):
        return out
    for pool, prop in _pool_props(node[kind], kind).items():
        addrs = [str(a) for a in (pools.get(pool) or {}).get("addresses") or []]
        mine = pool.startswith(rel + "/")
        sid = pool[len(rel) + 1 :] if mine else pool
        props = ([] if mine else [{"name": "geodns/pool", "value": pool}]) + [prop]
        props.sort(key=lambda p: PROPS.index(p["name"]))
        for rtype, version in (("A", 4), ("AAAA", 6)):
            fam = sorted(a for a in addrs if ipaddress.ip_address(a).version == version)
            if fam:
                ep = {"dnsName": name, "targets": fam, "recordType": rtype, "setIdentifier": sid}
                out.append(_ttl({**ep, "providerSpecific": props}, node))
    return out


def _in_zone(rtype: str, text: str, zone: str) -> str:
    """A host the document writes relative to the zone, made absolute."""
    if rtype not in HOSTS:
        return text
    head, _, host = text.rpartition(" ")
    host = host if host.endswith(".") else absolute(host, zone)
    return f"{head} {host}" if head else host


def _pool_props(rules: dict, kind: str) -> dict[str, dict]:
    if kind == "weighted":
        return {p: {"name": "geodns/weight", "value": str(w)} for p, w in rules.items()}
    keys: dict[str, list[str]] = {}
    for rule, pool in rules.items():
        keys.setdefault(pool, []).append(str(rule))
    return {p: {"name": "geodns/geo", "value": ",".join(sorted(k))} for p, k in keys.items()}


def _txt_endpoints(name: str, values: list[str], node: dict) -> list[dict]:
    plain = [v for v in values if SET_ID not in v]
    out = []
    if plain:
        targets = sorted(quote(v) for v in plain)
        out.append(_ttl({"dnsName": name, "targets": targets, "recordType": "TXT"}, node))
    by_set: dict[str, list[str]] = {}
    for value in values:
        if SET_ID in value:
            text, _, sid = value.rpartition(SET_ID)
            by_set.setdefault(sid, []).append(quote(text))
    for sid, targets in by_set.items():
        ep = {
            "dnsName": name,
            "targets": sorted(targets),
            "recordType": "TXT",
            "setIdentifier": sid,
        }
        out.append(_ttl(ep, node))
    return out


# --- endpoints into the document ----------------------------------------------------------


def apply(doc: dict, zone: str, changes: dict) -> dict:
    """The document with external-dns's changes made (a copy); BadChange says why not."""
    problems: list[dict] = []
    held = {key(ep): ep for ep in endpoints(doc, zone)}
    touched: set[str] = set()
    for section in ("delete", "updateOld"):
        for ep in changes.get(section) or []:
            ep = adjust(ep)
            held.pop(key(ep), None)
            touched.add(ep["dnsName"])
    for section in ("create", "updateNew"):
        for i, ep in enumerate(changes.get(section) or []):
            ep = adjust(ep)
            if not ep["dnsName"] or ep["recordType"] not in STATIC or not ep["targets"]:
                message = f"{ep['dnsName']} {ep['recordType']}: a name, a served type, targets"
                problems.append({"path": f"{section}[{i}]", "message": message})
            held[key(ep)] = ep
            touched.add(ep["dnsName"])
    new = {**doc, "records": dict(doc.get("records") or {}), "pools": dict(doc.get("pools") or {})}
    for name in sorted(touched):
        _rebuild(new, zone, name, [e for e in held.values() if e["dnsName"] == name], problems)
    if problems:
        raise BadChange(problems)
    if not new["pools"]:
        new.pop("pools")
    return new


def _rebuild(doc: dict, zone: str, name: str, eps: list[dict], problems: list[dict]) -> None:
    fqdn = name + "."
    if fqdn != zone and not fqdn.endswith("." + zone):
        problems.append({"path": name, "message": f"{name} is outside the zone {zone}"})
        return
    records = doc["records"]
    rel = next((k for k in records if absolute(str(k), zone) == fqdn), relative(fqdn, zone))
    old = records.get(rel)
    if isinstance(old, dict) and set(old) - {"ttl", "geo", "weighted", *STATIC}:
        message = "a geodns policy external-dns does not manage (edit it through the API)"
        problems.append({"path": f"records.{rel}", "message": message})
        return
    for pool in [p for p in doc["pools"] if str(p).startswith(str(rel) + "/")]:
        del doc["pools"][pool]  # ours: rebuilt below from the endpoints
    node = _node(doc["pools"], str(rel), eps, problems)
    if node:
        records[rel] = node
    else:
        records.pop(rel, None)


def _node(pools: dict, rel: str, eps: list[dict], problems: list[dict]) -> dict:
    node: dict[str, Any] = {}
    pooled = [e for e in eps if e.get("setIdentifier") and e["recordType"] in POOLED]
    for ep in eps:
        rtype, sid = ep["recordType"], ep.get("setIdentifier")
        if rtype == "TXT":
            suffix = SET_ID + sid if sid else ""
            node.setdefault("TXT", []).extend(unquote(t) + suffix for t in ep["targets"])
        elif not sid:
            node.setdefault(rtype, []).extend(host_target(rtype, t, "") for t in ep["targets"])
        elif rtype not in POOLED:
            message = f"{rtype} with a setIdentifier: only A, AAAA (and TXT) can be pooled"
            problems.append({"path": f"{ep['dnsName']}/{sid}", "message": message})
    if pooled and any(t in node for t in POOLED):
        message = "A/AAAA both with and without a setIdentifier at one name"
        problems.append({"path": rel, "message": message})
    if pooled:
        node.update(_policy(pools, rel, pooled, problems))
    ttls = [e["recordTTL"] for e in eps if e.get("recordTTL")]
    if ttls and node:
        node["ttl"] = max(ttls)
    return node


def _policy(pools: dict, rel: str, eps: list[dict], problems: list[dict]) -> dict:
    geo: dict[str, str] = {}
    weights: dict[str, int] = {}
    for ep in eps:
        props = _props(ep)
        pool = props.get("geodns/pool") or f"{rel}/{ep['setIdentifier']}"
        body = dict(pools.get(pool) or {})
        addrs = [a for a in body.get("addresses") or [] if a not in ep["targets"]]
        if ep["recordType"] == "A":
            addrs = [a for a in addrs if ":" in str(a)]  # this endpoint says the v4 ones
        else:
            addrs = [a for a in addrs if ":" not in str(a)]
        body["addresses"] = sorted(addrs + ep["targets"], key=_addr_key)
        pools[pool] = body
        if "geodns/geo" in props:
            for rule in props["geodns/geo"].split(","):
                geo[rule] = pool
        else:
            weights[pool] = _weight(props.get("geodns/weight"))
    if geo and weights:
        message = "some sets have geodns/geo and some not: a name is geo or weighted"
        problems.append({"path": rel, "message": message})
    return {"geo": geo} if geo else {"weighted": weights}


def _addr_key(addr: Any) -> tuple[int, int]:
    ip = ipaddress.ip_address(str(addr))
    return ip.version, int(ip)
