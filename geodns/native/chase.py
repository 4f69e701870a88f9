"""Native entries for what the exact-name table leaves to the slow path: CNAME chains
inside a zone (ending in static data, or in a policy name the C decides per query),
wildcard owners (a synthesized answer owns its records by the question), and referrals
with glue. Each is the reference answerer's own reply, made once when the table is built.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from geodns import wire as w
from geodns.dns.answer import Answerer, Reply
from geodns.model import AllUp
from geodns.names import is_below
from geodns.table import PolicyAnswer, ZoneTable, heads

STATIC, POLICY, REFERRAL = 0, 1, 2  # gn_entry kinds (_engine.h)
CHAIN_TYPES = (w.T_A, w.T_AAAA)  # a chain ending in a policy name: what the policy answers


class _Probe(Answerer):
    """The reference answerer with the policy step left out: the chain's own records, and
    which policy name (and owner) it ends in."""

    def __init__(self) -> None:
        super().__init__(AllUp(), None)  # type: ignore[arg-type]  (no policy is decided)
        self.reached: tuple[PolicyAnswer, bytes] | None = None

    def _policy(self, pa, qtype, owner, client, reply, outcome) -> None:
        self.reached = (pa, owner)


def _no_client() -> Any:
    raise AssertionError("a static answer asked for the client")


@dataclass(frozen=True, slots=True)
class Entry:
    """One native entry: its key (lower-case name, type, class), kind, heads (80 bytes),
    body, qtype counted; for a chain to a policy name, that name and its records' owner."""

    key: bytes
    kind: int
    heads: bytes
    body: bytes
    qtype: int
    policy: PolicyAnswer | None = None
    owner: bytes = b""
    before: int = 0  # records the chain puts before the policy's


def _static(key: bytes, reply: Reply, qtype: int, kind: int = STATIC) -> Entry:
    an, ns, ar = reply.counts
    hd = b"".join(heads(reply.aa, reply.rcode, an, ns, ar))
    body = b"".join(reply.answer + reply.authority + reply.additional)
    return Entry(key, kind, hd, body, qtype)


def _types(zt: ZoneTable) -> list[int]:
    """The qtypes a chain is built for: every type the zone holds, A and AAAA."""
    found = {w.T_A, w.T_AAAA, w.T_CNAME}
    for sets in zt.rrsets.values():
        found.update(sets)
    return sorted(t for t in found if t != w.T_ANY)


def _below_cut(zt: ZoneTable, name: bytes) -> bool:
    return bool(zt.cuts) and zt.find_cut(name) is not None


def chains(zt: ZoneTable) -> Iterator[Entry]:
    """Every CNAME owner's answer per type: static (the whole chain, NOERROR) or a chain
    into a policy name (its records' prefix, decided per query)."""
    types = _types(zt)
    for owner, sets in zt.rrsets.items():
        if w.T_CNAME not in sets or owner.startswith(b"\x01*") or _below_cut(zt, owner):
            continue
        for qtype in types:
            probe = _Probe()
            reply = probe.answer(zt, owner, qtype, _no_client)
            key = owner + struct.pack("!HH", qtype, w.CLASS_IN)
            if probe.reached is None:
                if reply.rcode == w.RCODE_NOERROR:
                    yield _static(key, reply, qtype)
                continue
            pa, target = probe.reached
            if qtype in CHAIN_TYPES and not reply.authority and not reply.additional:
                body = b"".join(reply.answer)
                yield Entry(key, POLICY, b"", body, qtype, pa, target, reply.counts[0])


def wildcards(zt: ZoneTable) -> Iterator[Entry]:
    """A wildcard owner's records by type, owned by the question: what every name it
    synthesizes gets (no CNAME, NS or SOA there: those stay Python's)."""
    for owner, sets in zt.rrsets.items():
        if not owner.startswith(b"\x01*") or _below_cut(zt, owner) or w.T_CNAME in sets:
            continue
        for qtype in sets:
            if qtype in (w.T_NS, w.T_SOA):
                continue
            reply = _Probe().answer(zt, owner, qtype, _no_client)
            if reply.rcode == w.RCODE_NOERROR and not reply.authority and reply.answer:
                yield _static(owner + struct.pack("!HH", qtype, w.CLASS_IN), reply, qtype)


def probe(zt: ZoneTable, name: bytes, qtype: int = w.T_A) -> Reply:
    """The reference answerer's static reply for (name, qtype): no policy is decided."""
    return _Probe().answer(zt, name, qtype, _no_client)


def referrals(zt: ZoneTable) -> Iterator[Entry]:
    """Each cut's referral (not below another cut: the slow path picks among nested ones),
    keyed by the cut and type 0 class 0: the C finds it for every name at or below."""
    for cut in zt.cuts:
        if any(other != cut and is_below(cut, other) for other in zt.cuts):
            continue
        reply = _Probe().answer(zt, cut, w.T_A, _no_client)
        if reply.aa or reply.answer or reply.rcode != w.RCODE_NOERROR:
            continue
        yield _static(cut + bytes(4), reply, 0, REFERRAL)


def python_names(zt: ZoneTable) -> list[bytes]:
    """Names whose missing types the entries do not settle (a CNAME to follow, a
    wildcard's CNAME, NS or SOA): a question for one of them is Python's, not NODATA."""
    out = []
    for owner, sets in zt.rrsets.items():
        if w.T_CNAME in sets or (owner.startswith(b"\x01*") and {w.T_NS, w.T_SOA} & set(sets)):
            out.append(owner)
    return out


def entries(zt: ZoneTable) -> Iterator[Entry]:
    """Every native-only entry of a zone."""
    yield from chains(zt)
    yield from wildcards(zt)
    yield from referrals(zt)
