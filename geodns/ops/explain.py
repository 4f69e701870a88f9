"""`geodns explain`: one query through the server's own handler, with every reason shown."""

from __future__ import annotations

import ipaddress
import struct
import time
from typing import Any

import dnslib
import geoip2.database
import geoip2.errors
import maxminddb

from geodns import names
from geodns import wire as w
from geodns.dns.handler import Handler, Outcome
from geodns.model import FAMILY_V4, Client

TCP_SIZE = 65535  # explain asks as over TCP: the whole answer, never truncated


def build_query(name: str, qtype: int, ecs: str | None) -> bytes:
    """A query as a resolver would send it: RD, EDNS(0), and the ECS option when given."""
    qname = names.name_to_wire(name if name.endswith(".") else name + ".")
    options = b""
    if ecs is not None:
        net = ipaddress.ip_network(ecs, strict=False)
        family = 1 if net.version == 4 else 2
        addr = net.network_address.packed[: (net.prefixlen + 7) // 8]
        body = struct.pack("!HBB", family, net.prefixlen, 0) + addr
        options = struct.pack("!HH", w.OPT_ECS, len(body)) + body
    header = struct.pack("!HHHHHH", 0x4745, 0x0100, 1, 0, 0, 1)
    question = qname + struct.pack("!HH", qtype, w.CLASS_IN)
    return header + question + w.opt_rr(4096, 0, 0, options)


def _facts(client: Client | None) -> dict[str, Any] | None:
    if client is None:
        return None
    f = client.facts
    return {
        "network": f.network or None,
        "prefix_len": f.prefix_len,
        "continent": f.continent,
        "country": f.country,
        "subdivision": f.subdivision,
        "asn": f.asn,
        "location": None if f.lat is None else {"lat": f.lat, "lon": f.lon},
    }


def _place(handler: Handler, client: Client | None) -> dict[str, Any] | None:
    """The GeoIP record in words (names of city, region, country, continent; AS owner), for
    people: read with geoip2 from the files the server uses, never on the answering path.

    MODE_FILE reads with plain file reads: a database rewritten under us raises an error
    here, never a SIGBUS."""
    if client is None or not client.address:
        return None
    locator = handler.clients.locator
    address = str(ipaddress.ip_address(client.address))
    place: dict[str, Any] = {}
    for db, what in ((locator.city, "city"), (locator.asn, "asn")):
        if db is None:
            continue
        try:
            with geoip2.database.Reader(db.path, mode=maxminddb.MODE_FILE) as reader:
                place.update(_city_words(reader, address) if what == "city" else {})
                place.update(_asn_words(reader, address) if what == "asn" else {})
        except (OSError, ValueError, geoip2.errors.GeoIP2Error, maxminddb.InvalidDatabaseError):
            continue
    return place or None


def _city_words(reader: geoip2.database.Reader, address: str) -> dict[str, Any]:
    kind = reader.metadata().database_type
    record = reader.city(address) if "City" in kind else reader.country(address)
    out = {
        "continent": record.continent.name,
        "country": record.country.name,
        "city": getattr(getattr(record, "city", None), "name", None),
        "subdivisions": [s.name for s in getattr(record, "subdivisions", [])],
    }
    return {k: v for k, v in out.items() if v}


def _asn_words(reader: geoip2.database.Reader, address: str) -> dict[str, Any]:
    record = reader.asn(address)
    return {"asn": record.autonomous_system_number, "as_org": record.autonomous_system_organization}


def _client_text(client: Client | None, ecs: str | None, source: str) -> dict[str, Any]:
    if client is None:
        return {"address": source, "why": "packet source (the answer does not depend on it)"}
    addr = ipaddress.ip_address(client.address)
    if client.ecs:
        why = f"ECS option {ecs}, used as {addr}/{client.source_prefix}"
    elif ecs is not None:
        why = "ECS source prefix 0 or ECS disabled: packet source used"
    else:
        why = "no ECS option: packet source used"
    shown = str(addr) if client.family == FAMILY_V4 or not client.ecs else f"{addr}"
    return {"address": shown, "source_prefix": client.source_prefix, "why": why}


def _uncounted(handler: Handler, query: bytes, client: str, outcome: Outcome) -> bytes:
    """The handler's slow path, as over TCP (never truncated), counted nowhere: an explain
    is a question about traffic, not traffic (no queries_total, no responses_by_pool_total).
    The answerer's counters are set aside for the call (the loop runs nothing else meanwhile)."""
    answerer = handler.answerer
    saved, answerer.stats = answerer.stats, None
    try:
        reply = handler.slow(query, client, TCP_SIZE, _not_counted, outcome)
    finally:
        answerer.stats = saved
    assert reply is not None  # a query we built ourselves is always answered
    return reply


def _not_counted(zone: str | None, qtype: int, rcode: int) -> None:
    """A query counter that counts nothing (Count, dns/stats.py)."""


def explain(handler: Handler, name: str, qtype: str, client: str, ecs: str | None) -> dict:
    """Run the query through `handler.slow` (the code every query uses) and report."""
    rtype = w.TYPE_NAMES.get(qtype.upper()) or int(qtype.upper().removeprefix("TYPE"))
    outcome = Outcome()
    query = build_query(name, rtype, ecs)
    reply = _uncounted(handler, query, client, outcome)
    msg = dnslib.DNSRecord.parse(reply)
    answers = [str(rr) for rr in msg.rr]
    ecs_scope = None
    for opt in msg.ar:
        for option in getattr(opt, "rdata", []) or []:
            if getattr(option, "code", None) == w.OPT_ECS:
                ecs_scope = option.data[3]
    if outcome.client is None:
        scope_why = "0: the answer is the same for every client"
    elif ecs_scope is None:
        scope_why = "no ECS in the query"
    else:
        scope_why = (
            f"/{ecs_scope}: the widest network over which this decision holds "
            f"(capped at the source prefix /{outcome.client.source_prefix})"
        )
    return {
        "query": {"name": name, "type": qtype.upper(), "client": client, "ecs": ecs},
        "client": _client_text(outcome.client, ecs, client),
        "geoip": _facts(outcome.client),
        "place": _place(handler, outcome.client),
        "path": outcome.trace or ["static records (no policy)"],
        "pool": outcome.pool,
        "rcode": dnslib.RCODE.get(msg.header.rcode),
        "answer": answers,
        "ttl": msg.rr[0].ttl if msg.rr else None,
        "ecs_scope": ecs_scope,
        "ecs_scope_why": scope_why if ecs is not None else "no ECS in the query",
        "dnssec": _signing(handler, name),
    }


def _signing(handler: Handler, name: str) -> dict[str, Any] | None:
    """Which keys sign this name's answers (for DO queries) and their validity window."""
    try:
        zt = handler.table.find_zone(
            names.name_to_wire(name if name.endswith(".") else name + ".").lower()
        )
    except ValueError:
        return None
    if zt is None or zt.signer is None:
        return None
    inception, expiration = zt.signer.window()
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "keys": [f"{k.tag} alg {k.algorithm}" for k in zt.signer.state.zsks],
        "inception": time.strftime(stamp, time.gmtime(inception)),
        "expiration": time.strftime(stamp, time.gmtime(expiration)),
    }


def render(report: dict) -> str:
    lines = [f"query   {report['query']['name']} {report['query']['type']}"]
    c = report["client"]
    lines.append(f"client  {c['address']} ({c['why']})")
    g = report["geoip"]
    if g is not None:
        loc = g["location"]
        where = f"lat {loc['lat']} lon {loc['lon']}" if loc else "no location"
        lines.append(
            f"geoip   network {g['network'] or '?'} (/{g['prefix_len']}): continent "
            f"{g['continent'] or '-'}, country {g['country'] or '-'}, subdivision "
            f"{g['subdivision'] or '-'}, ASN {g['asn'] or '-'}, {where}"
        )
    place = report.get("place")
    if place:
        where = [place.get("city"), *place.get("subdivisions", []), place.get("country")]
        text = ", ".join(x for x in where if x) or "?"
        text += f" ({place['continent']})" if place.get("continent") else ""
        if place.get("asn"):
            text += f"; AS{place['asn']} {place.get('as_org') or ''}".rstrip()
        lines.append(f"place   {text}")
    for step in report["path"]:
        lines.append(f"policy  {step}")
    if report["pool"]:
        lines.append(f"pool    {report['pool']}")
    lines.append(f"rcode   {report['rcode']}")
    for rr in report["answer"] or ["(no records)"]:
        lines.append(f"answer  {rr}")
    lines.append(f"scope   {report['ecs_scope_why']}")
    signing = report.get("dnssec")
    if signing:
        keys = ", ".join(signing["keys"])
        lines.append(
            f"dnssec  signed (DO) by {keys}, {signing['inception']} .. {signing['expiration']}"
        )
    return "\n".join(lines)
