"""DNSSEC on the slow path: RRSIGs and compact denial (RFC 9824) added to a built Reply.

The reply's records are read back (their pointers only reach into the question, which
never moves), grouped into RRsets and signed through the zone's signer, whose cache keys
by content. A name that does not exist gets NOERROR and one NSEC at the name whose
bitmap holds NXNAME, unless the query set the CO flag (then NXDOMAIN, RFC 9824 §3); a
name without the type gets an NSEC listing the types it has. Wildcard answers are signed
as the name asked for (as Route 53 does), so no NSEC proof of the expansion is needed.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

from geodns import policies
from geodns import wire as w
from geodns.dns.answer import ADD, ANS, AUTH, Answerer, Reply
from geodns.dnssec.sign import T_NSEC, T_RRSIG
from geodns.table import ZoneTable

T_NXNAME = 128
EDNS_CO = 0x4000
NAME_RDATA = {w.T_NS: 0, w.T_CNAME: 0, w.T_PTR: 0, w.T_MX: 2, w.T_SRV: 6}
Record = tuple[bytes, int, int, bytes]  # lower-case owner, type, ttl, canonical rdata


def _name(msg: bytes, pos: int) -> tuple[bytes, int]:
    """(uncompressed lower-case name, position after it); pointers followed, bounded."""
    out, end, hops = bytearray(), -1, 0
    while True:
        if pos >= len(msg) or hops > 64:
            raise ValueError("bad name")
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            if end < 0:
                end = pos + 2
            pos, hops = ((n & 0x3F) << 8) | msg[pos + 1], hops + 1
            continue
        out += msg[pos : pos + n + 1]
        if n == 0:
            return bytes(out).lower(), end if end >= 0 else pos + 1
        pos += n + 1


def _canonical(msg: bytes, rtype: int, start: int, end: int) -> bytes:
    """RDATA with its names uncompressed and lower-cased (RFC 4034 §6.2)."""
    if rtype == w.T_SOA:
        mname, pos = _name(msg, start)
        rname, pos = _name(msg, pos)
        return mname + rname + msg[pos:end]
    skip = NAME_RDATA.get(rtype)
    if skip is None:
        return msg[start:end]
    target, _ = _name(msg, start + skip)
    return msg[start : start + skip] + target


def _records(prefix: bytes, chunks: list[bytes], count: int) -> list[Record]:
    msg = prefix + b"".join(chunks)
    pos, out = len(prefix), []
    for _ in range(count):
        owner, pos = _name(msg, pos)
        rtype, _cls, ttl, size = struct.unpack_from("!HHIH", msg, pos)
        start = pos + 10
        out.append((owner, rtype, ttl, _canonical(msg, rtype, start, start + size)))
        pos = start + size
    return out


def _rrsets(records: list[Record]) -> dict[tuple[bytes, int], tuple[int, list[bytes]]]:
    sets: dict[tuple[bytes, int], tuple[int, list[bytes]]] = {}
    for owner, rtype, ttl, rdata in records:
        sets.setdefault((owner, rtype), (ttl, []))[1].append(rdata)
    return sets


def type_bitmap(types: set[int]) -> bytes:
    """The NSEC type bit maps field (RFC 4034 §4.1.2): one block per 256-type window."""
    out = b""
    for window in sorted({t >> 8 for t in types}):
        bits = bytearray(32)
        for t in types:
            if t >> 8 == window:
                bits[(t & 0xFF) >> 3] |= 0x80 >> (t & 7)
        length = max(i for i, b in enumerate(bits) if b) + 1
        out += bytes([window, length]) + bits[:length]
    return out


def types_at(zt: ZoneTable, name: bytes) -> set[int]:
    """The types a name has (for a policy name: the families its pools can answer)."""
    node = name if name in zt.names else Answerer.wildcard(zt, name)
    if node is None:
        return set()
    found = set(zt.rrsets.get(node, {}))
    if node == zt.origin:
        found.add(w.T_SOA)  # kept beside the RRsets, not among them
    pa = zt.policies.get(node)
    if pa is not None:
        for pool in policies.walk_pools(pa.node):
            for text in pool.addresses:
                found.add(w.T_A if ipaddress.ip_address(text).version == 4 else w.T_AAAA)
    return found


def _rr(owner: bytes, qname: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    """An RR owned by `owner`: a pointer to the question when it is the question's name."""
    return w.rr(w.PTR_QNAME if owner == qname else owner, rtype, ttl, rdata)


def _final_name(qname: bytes, answer: dict) -> bytes:
    """Where the CNAME chain in the answer ends (the name a denial is about)."""
    name = qname
    for _ in range(len(answer) + 1):
        cname = answer.get((name, w.T_CNAME))
        if cname is None:
            return name
        name = cname[1][0]
    return name


def sign_reply(q: w.Query, reply: Reply, zt: ZoneTable, signer: Any) -> Reply:
    """The reply with RRSIGs for its answer and authority RRsets and compact denial."""
    prefix = bytes(12) + q.question
    qname = q.qname.lower()
    answer = _rrsets(_records(prefix, reply.answer, reply.counts[ANS]))
    authority = _rrsets(_records(prefix, reply.authority, reply.counts[AUTH]))
    out = Reply(reply.rcode, reply.aa, list(reply.answer), [], list(reply.additional))
    out.counts = [reply.counts[ANS], 0, reply.counts[ADD]]
    out.scope, out.zone, out.origin_at = reply.scope, reply.zone, reply.origin_at
    for (owner, rtype), (ttl, rdatas) in answer.items():
        _add_sigs(out, ANS, signer, qname, owner, rtype, ttl, rdatas)
    if not reply.aa and any(t == w.T_NS for _, t in authority):
        _referral(out, reply, zt, signer, qname, authority)
        return out
    out.authority, out.counts[AUTH] = list(reply.authority), reply.counts[AUTH]
    for (owner, rtype), (ttl, rdatas) in authority.items():
        _add_sigs(out, AUTH, signer, qname, owner, rtype, ttl, rdatas)
    if (zt.origin, w.T_SOA) in authority:
        _denial(out, q, zt, signer, _final_name(qname, answer))
    return out


def _add_sigs(out, section, signer, qname, owner, rtype, ttl, rdatas) -> None:
    for sig in signer.rrsigs(owner, rtype, ttl, rdatas):
        out.add(section, _rr(owner, qname, T_RRSIG, ttl, sig), 1)


def _nsec(out, zt, signer, qname: bytes, owner: bytes, types: set[int]) -> None:
    """One NSEC at `owner` covering only it (next: `\\000.owner`), and its RRSIG."""
    ttl = min(zt.zone.soa_ttl, zt.zone.soa_minimum)  # RFC 9077
    rdata = b"\x01\x00" + owner + type_bitmap(types | {T_RRSIG, T_NSEC})
    out.add(AUTH, _rr(owner, qname, T_NSEC, ttl, rdata), 1)
    _add_sigs(out, AUTH, signer, qname, owner, T_NSEC, ttl, [rdata])


def _denial(out: Reply, q: w.Query, zt: ZoneTable, signer: Any, name: bytes) -> None:
    if out.rcode == w.RCODE_NXDOMAIN:
        _nsec(out, zt, signer, q.qname.lower(), name, {T_NXNAME})
        co = q.edns is not None and q.edns.flags & EDNS_CO
        out.rcode = w.RCODE_NXDOMAIN if co else w.RCODE_NOERROR
    elif out.rcode == w.RCODE_NOERROR:
        # a policy name whose chosen pool lacks the family has no such record for this
        # client: the NSEC must not claim it (validators reject STYPE in the bitmap)
        types = types_at(zt, name) - {q.qtype, w.T_CNAME}
        _nsec(out, zt, signer, q.qname.lower(), name, types)


def _referral(out, reply, zt, signer, qname, authority) -> None:
    """A delegation: NS unsigned (the child's), with the DS signed, or an NSEC proving
    there is none (its bitmap: NS, RRSIG, NSEC)."""
    out.authority, out.counts[AUTH] = list(reply.authority), reply.counts[AUTH]
    cut = next(owner for owner, t in authority if t == w.T_NS)
    ds = zt.rrsets.get(cut, {}).get(w.T_DS)
    if ds is None:
        _nsec(out, zt, signer, qname, cut, {w.T_NS})
        return
    rdatas = list(ds.rdatas)
    out.add(AUTH, b"".join(_rr(cut, qname, w.T_DS, ds.ttl, r) for r in rdatas), len(rdatas))
    _add_sigs(out, AUTH, signer, qname, cut, w.T_DS, ds.ttl, rdatas)
