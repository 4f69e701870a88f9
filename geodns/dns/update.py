"""RFC 2136 UPDATE and TSIG-signed queries at the handler: verify, check grants, hand on.

Everything that needs only the message and the config happens here, in the worker that
received it: the TSIG check (dns/tsig.py), the zone section, the RFC 2136 §3.2-3.4 form
checks and the allow list. What needs the zone's current content (prerequisites, the
change itself, "static data only") is the zone writer's, in the process that owns the
zones: `submit` hands it an UpdateRequest and its awaitable says the RCODE.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.message
import dns.rdataclass
import dns.rdatatype

from geodns.dns import tsig
from geodns.dns.updatesconf import UpdatesConfig
from geodns.wire import FormErr

OPCODE_QUERY, OPCODE_UPDATE = 0, 5
NOERROR, FORMERR, SERVFAIL, REFUSED = 0, 1, 2, 5
NOTAUTH, NOTZONE = 9, 10
PASS = object()  # not ours: the handler answers the message as it would without updates
RESERVE = 160  # room a reply keeps for its TSIG (a long key name, sha512)
RESULTS = {NOERROR: "ok", REFUSED: "refused", NOTAUTH: "notauth", NOTZONE: "notzone"}
RESULTS.update({FORMERR: "formerr", 3: "prerequisite", 6: "prerequisite", 7: "prerequisite"})
RESULTS[8] = "prerequisite"  # NXDOMAIN, YXDOMAIN, YXRRSET, NXRRSET (RFC 2136 §3.2)


@dataclass(frozen=True, slots=True)
class Record:
    """One prerequisite or update record, as text (it crosses to the zone writer)."""

    name: str  # absolute, lower case
    rtype: str  # "TXT", or "ANY"
    rclass: str  # "IN" (the zone's), "ANY" or "NONE" (RFC 2136 §2.4, §2.5)
    ttl: int
    value: str | None  # the record's data as the zone document writes it; None: empty


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    zone: str  # origin, lower case, with the dot
    key: str  # the TSIG key's name: the author in the zone's history
    source: str  # the client's address
    prereqs: tuple[Record, ...]
    updates: tuple[Record, ...]


Submit = Callable[[UpdateRequest], Awaitable[int]]


class UpdateDesk:
    """What the handler asks about UPDATE messages and signed queries (updates: set)."""

    def __init__(
        self,
        conf: UpdatesConfig,
        submit: Submit,
        clock: Callable[[], float] = time.time,
        counts: dict[str, int] | None = None,
    ) -> None:
        self.conf, self.submit, self.clock = conf, submit, clock
        self.pending = 0  # updates handed on and not yet answered (bounded: max_pending)
        # result -> updates: Stats.updates, exported as geodns_dns_updates_total{result}
        self.counts: dict[str, int] = counts if counts is not None else {}

    def take(self, data: bytes, host: str, max_size: int, answer: Any, find_zone: Any) -> Any:
        """bytes, an awaitable of bytes, or PASS; `answer(message, max_size)` answers a
        query, `find_zone(wire name)` finds the zone serving a name (or None)."""
        opcode = (data[2] >> 3) & 0xF
        try:
            sig = tsig.find(data)
        except FormErr:
            return self._done("formerr", _reply(data, FORMERR)) if opcode else PASS
        if sig is None:
            return self._done("unsigned", _reply(data, REFUSED)) if opcode else PASS
        now = int(self.clock())
        error, key = tsig.verify(data, sig, self.conf.keys, now)
        if error == tsig.BADTIME:  # signed, at the request's time, ours in Other (§5.2.3)
            message = _reply(data, NOTAUTH)
            other = tsig.time_other(now)
            self._count("badtime")
            return tsig.sign(message, key, sig.time_signed, sig.mac, error, other)  # type: ignore[arg-type]
        if error:
            self._count(tsig.ERROR_TEXT[error].lower())
            return tsig.unsigned_error(_reply(data, NOTAUTH), sig, error, now)
        inner = data[:2] + tsig._unsigned(data, sig)[2:]
        if opcode == OPCODE_QUERY:
            reply = answer(inner, max(max_size - RESERVE, 512))
            return None if reply is None else tsig.sign(reply, key, now, sig.mac)  # type: ignore[arg-type]
        try:
            request = self._request(inner, key, host, find_zone)  # type: ignore[arg-type]
        except _Refusal as exc:
            self._count(exc.why)
            return tsig.sign(_reply(data, exc.rcode), key, now, sig.mac)  # type: ignore[arg-type]
        if self.pending >= self.conf.max_pending:
            self._count("busy")
            return tsig.sign(_reply(data, SERVFAIL), key, now, sig.mac)  # type: ignore[arg-type]
        self.pending += 1
        return self._finish(request, data, key, sig)  # type: ignore[arg-type]

    async def _finish(self, request: UpdateRequest, data: bytes, key: tsig.Key, sig: Any) -> bytes:
        try:
            rcode = await self.submit(request)
        except Exception:  # the writer is gone or timed out: try again later
            rcode = SERVFAIL
        finally:
            self.pending -= 1
        self._count(RESULTS.get(rcode, "servfail"))
        return tsig.sign(_reply(data, rcode), key, int(self.clock()), sig.mac)

    def _done(self, why: str, reply: bytes) -> bytes:
        self._count(why)
        return reply

    def _count(self, why: str) -> None:
        self.counts[why] = self.counts.get(why, 0) + 1

    def _request(self, inner: bytes, key: tsig.Key, host: str, find_zone: Any) -> UpdateRequest:
        try:
            msg = dns.message.from_wire(inner)
        except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
            raise _Refusal(FORMERR, "formerr") from exc
        zone_rrsets = msg.sections[0]
        if len(zone_rrsets) != 1 or zone_rrsets[0].rdtype != dns.rdatatype.SOA:
            raise _Refusal(FORMERR, "formerr")
        if zone_rrsets[0].rdclass != dns.rdataclass.IN:
            raise _Refusal(NOTAUTH, "notauth")
        zone = zone_rrsets[0].name.to_text().lower()
        served = find_zone(tsig.name_wire(zone))
        if served is None or served.zone.origin_text.lower() != zone:
            raise _Refusal(NOTAUTH, "notauth")  # §3.1.1: not a zone we are authoritative for
        prereqs = _records(msg.sections[1], zone, prereq=True)
        updates = _records(msg.sections[2], zone, prereq=False)
        for rec in updates:
            if rec.rtype == "ANY":  # delete every set at a name: what the key may change there
                permitted = any(a.covers(key.name, rec.name, zone) for a in self.conf.allow)
            else:
                permitted = self.conf.permits(key.name, rec.name, zone, rec.rtype)
            if not permitted:
                raise _Refusal(REFUSED, "refused")
        return UpdateRequest(zone, key.name, host, prereqs, updates)


class _Refusal(Exception):
    def __init__(self, rcode: int, why: str) -> None:
        super().__init__(why)
        self.rcode, self.why = rcode, why


def _records(rrsets: list, zone: str, prereq: bool) -> tuple[Record, ...]:
    """The section's records, checked as RFC 2136 §3.2.1 and §3.4.1.2 say (FORMERR, NOTZONE)."""
    out = []
    for rrset in rrsets:
        name = rrset.name.to_text().lower()
        if name != zone and not name.endswith("." + zone):
            raise _Refusal(NOTZONE, "notzone")
        rtype = dns.rdatatype.to_text(rrset.rdtype)
        klass = rrset.deleting if rrset.deleting is not None else rrset.rdclass
        rclass = dns.rdataclass.to_text(klass)
        if rclass not in ("IN", "ANY", "NONE"):
            raise _Refusal(FORMERR, "formerr")
        empty = len(rrset) == 0
        if rclass != "IN" and (rrset.ttl != 0 or ((prereq or rclass == "ANY") and not empty)):
            raise _Refusal(FORMERR, "formerr")
        if not prereq and rclass == "NONE" and (empty or rtype == "ANY"):
            raise _Refusal(FORMERR, "formerr")
        if rclass == "IN" and (empty or rtype in ("ANY", "AXFR", "IXFR", "TSIG", "OPT")):
            raise _Refusal(FORMERR, "formerr")
        if prereq and rclass == "IN" and rrset.ttl != 0:
            raise _Refusal(FORMERR, "formerr")
        if empty:
            out.append(Record(name, rtype, rclass, rrset.ttl, None))
        for rd in rrset:
            out.append(Record(name, rtype, rclass, rrset.ttl, value_text(rd, zone)))
    return tuple(out)


def value_text(rd: Any, zone: str) -> str:
    """Record data as the zone document writes it: TXT's strings joined, the rest in
    presentation format with absolute names."""
    if rd.rdtype == dns.rdatatype.TXT:
        return b"".join(rd.strings).decode("utf-8", "backslashreplace")
    return rd.to_text(origin=None, relativize=False)


def _reply(data: bytes, rcode: int) -> bytes:
    """A reply header (QR, the request's opcode and ID) and its zone/question section."""
    qdcount = struct.unpack_from("!H", data, 4)[0]
    end = 12
    try:
        for _ in range(min(qdcount, 1)):
            end = tsig.read_name(data, end)[1] + 4
    except FormErr:
        end = 12
    question = data[12:end] if end <= len(data) else b""
    flags = 0x8000 | (data[2] & 0x78) << 8 | (data[2] & 0x01) << 8 | rcode & 0xF
    head = struct.pack(
        "!HHHHHH", struct.unpack_from("!H", data)[0], flags, int(bool(question)), 0, 0, 0
    )
    return head + question
