"""RFC 2136 UPDATE applied as a zone write: prerequisites and changes on the zone document.

A worker verified the message (dns/update.py) and sends the UpdateRequest up its channel
to the supervisor (UpdateLink): that pipe already exists, only the two processes hold it
(no token, no port, works with http.listen off), and the supervisor owns the zone writer.
There `apply` runs it through ZoneService.write, the API's path: prerequisites are judged
against the document under the writer's lock, the result is compiled as `geodns check`
does and committed whole (files or the fleet bus), with `tsig:<key>@<client>` as author.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from geodns.dns.update import UpdateRequest
from geodns.dns.updatesconf import UpdatesConfig
from geodns.ops.zonewrite import ZoneService
from geodns.zones.patch import absolute, relative

log = logging.getLogger("geodns.updates")
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH = 6, 7, 8, 9
WAIT = 30.0  # a worker's wait for the writer (a big zone compiles in seconds): then SERVFAIL


class UpdateLink:
    """The worker's end: hands requests up the channel, matches answers by token."""

    def __init__(self, send: Any) -> None:
        self.send = send  # send(message tuple) on the channel to the supervisor
        self.waiting: dict[int, asyncio.Future] = {}
        self.token = 0

    async def submit(self, request: UpdateRequest) -> int:
        self.token += 1
        token, future = self.token, asyncio.get_running_loop().create_future()
        self.waiting[token] = future
        try:
            self.send(("update", token, request))
            return await asyncio.wait_for(future, WAIT)
        finally:
            self.waiting.pop(token, None)

    def answered(self, token: int, rcode: int) -> None:
        future = self.waiting.get(token)
        if future is not None and not future.done():
            future.set_result(rcode)


class _Stop(Exception):
    """Nothing to write: a prerequisite failed (its RCODE) or the update changes nothing."""

    def __init__(self, rcode: int) -> None:
        self.rcode = rcode


async def apply(service: ZoneService, conf: UpdatesConfig, request: UpdateRequest) -> int:
    """The RCODE of one verified update, applied as a zone write (or not at all)."""
    who = f"tsig:{request.key.rstrip('.')}@{request.source}"
    try:
        outcome = await service.write(
            request.zone, lambda doc: _change(doc, request, conf), who, what="RFC 2136 UPDATE"
        )
    except _Stop as stop:
        return stop.rcode
    except Exception:
        log.exception("update of %s by %s failed", request.zone, who)
        return SERVFAIL
    if outcome.status == 200:
        return NOERROR
    log.warning(
        "update of %s by %s refused: %s %s", request.zone, who, outcome.status, outcome.body
    )
    return {404: NOTAUTH, 422: REFUSED}.get(outcome.status, SERVFAIL)


def _change(doc: dict | None, request: UpdateRequest, conf: UpdatesConfig) -> tuple[Any, list]:
    if doc is None:
        raise _Stop(NOTAUTH)
    zone = request.zone
    records = doc.get("records") or {}
    rcode = prerequisites(records, request, zone)
    if rcode != NOERROR:
        raise _Stop(rcode)
    new = copy.deepcopy(doc)
    held = new.setdefault("records", {})
    if not isinstance(held, dict):
        raise _Stop(SERVFAIL)
    for rec in request.updates:
        key = _key(held, rec.name, zone)
        node = held.get(key)
        if node is not None and not _static(node):
            raise _Stop(REFUSED)  # a policy name: never changed by UPDATE
        node = dict(node or {})
        if rec.rclass == "IN":
            _add(node, rec, zone, new.get("ttl"))
        elif rec.rtype == "ANY":
            for rtype in [t for t in node if t != "ttl"]:
                if conf.permits(request.key, rec.name, zone, rtype.upper()):
                    del node[rtype]
        else:
            _delete(node, rec, zone)
        if set(node) - {"ttl"}:
            held[key] = node
        else:
            held.pop(key, None)
    if new == doc:
        raise _Stop(NOERROR)  # RFC 2136 §3.4.2: changes that change nothing are no error
    return new, []


def prerequisites(records: dict, request: UpdateRequest, zone: str) -> int:
    """RFC 2136 §3.2.5: NOERROR, or the RCODE of the first prerequisite that fails."""
    wanted: dict[tuple[str, str], set] = {}
    for rec in request.prereqs:
        node = records.get(_key(records, rec.name, zone))
        sets = _sets(node, zone)
        if rec.rclass == "ANY" and rec.rtype == "ANY" and node is None:
            return NXDOMAIN
        if rec.rclass == "ANY" and rec.rtype != "ANY" and rec.rtype not in sets:
            return NXRRSET
        if rec.rclass == "NONE" and rec.rtype == "ANY" and node is not None:
            return YXDOMAIN
        if rec.rclass == "NONE" and rec.rtype != "ANY" and rec.rtype in sets:
            return YXRRSET
        if rec.rclass == "IN":
            wanted.setdefault((rec.name, rec.rtype), set()).add(_canon(rec.rtype, rec.value, zone))
    for (name, rtype), values in wanted.items():
        node = records.get(_key(records, name, zone))
        if _sets(node, zone).get(rtype) != values:
            return NXRRSET
    return NOERROR


def _key(records: dict, name: str, zone: str) -> str:
    found = next((k for k in records if absolute(str(k), zone) == name), None)
    return found if found is not None else relative(name, zone)


def _static(node: Any) -> bool:
    """Records only (type keys and a ttl): geo, weighted, failover... are policy names."""
    return isinstance(node, dict) and all(str(k) == "ttl" or str(k).isupper() for k in node)


def _values(node: dict, rtype: str) -> tuple[str | None, list[str]]:
    held = next((k for k in node if str(k).upper() == rtype), None)
    value = node.get(held) if held is not None else None
    return held, [] if value is None else [
        str(v) for v in (value if isinstance(value, list) else [value])
    ]


def _sets(node: Any, zone: str) -> dict[str, set]:
    """The node's record sets as canonical values by type; a policy answers A and AAAA."""
    if not isinstance(node, dict):
        return {}
    if not _static(node):
        return {"A": {None}, "AAAA": {None}}  # value-dependent prerequisites fail on them
    out = {}
    for key in node:
        if str(key) != "ttl":
            rtype = str(key).upper()
            out[rtype] = {_canon(rtype, v, zone) for v in _values(node, rtype)[1]}
    return out


def _canon(rtype: str, value: str | None, zone: str) -> Any:
    """A record's data compared as DNS compares it (names absolute, case folded)."""
    if value is None or rtype == "TXT":
        return value
    try:
        rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value, zone)
        return rd.to_digestable()
    except (dns.exception.DNSException, ValueError):
        return value


def _add(node: dict, rec: Any, zone: str, zone_ttl: Any) -> None:
    held, values = _values(node, rec.rtype)
    if rec.rtype == "CNAME" or (held is None and "CNAME" in node):
        values = []  # §3.4.2.2: a CNAME replaces; other data beside one is not added
        if held is None and "CNAME" in node:
            return
    canon = {_canon(rec.rtype, v, zone) for v in values}
    if _canon(rec.rtype, rec.value, zone) not in canon:
        values.append(rec.value)
    if held is not None:
        del node[held]
    node[rec.rtype] = values
    if "ttl" not in node and rec.ttl != zone_ttl and len(node) == 1:
        node["ttl"] = rec.ttl


def _delete(node: dict, rec: Any, zone: str) -> None:
    held, values = _values(node, rec.rtype)
    if held is None:
        return
    if rec.rclass == "ANY":
        del node[held]
        return
    gone = _canon(rec.rtype, rec.value, zone)
    left = [v for v in values if _canon(rec.rtype, v, zone) != gone]
    if left:
        node[held] = left
    else:
        del node[held]
