"""DNSSEC on the native path: every distinct answer signed once when the native table or
the decisions are built, so the C threads answer a DO query in a signed zone with no
signing on the answering path.

The signed variant is dns/signed.py's sign_reply applied to the very records the C
serves (the unsigned answer, read back into sections), so it is byte for byte what the
slow handler gives a DO query; signatures come from the zone's signer, cached by content
and week window. Signed ahead: positive authoritative answers (static, every policy class,
draws and sticky picks, one body per max_answers start, CNAME chains inside the zone) and
NODATA (per name, and per name and type at a policy name), referrals (per cut: the DS
and its RRSIG, or the NSEC proving none). Not: NXDOMAIN (an NSEC per name asked: the C
signs it, native/denial.py), wildcard syntheses (signed as the name asked); and at most `cap`
per build: past it a DO query for the rest is Python's.
"""

from __future__ import annotations

import struct
from typing import Any

from geodns import wire as w
from geodns.dns.answer import AUTH, Reply
from geodns.dns.signed import sign_reply
from geodns.dnssec import sign
from geodns.native import chase
from geodns.table import heads as make_heads

CAP = 200_000  # signed variants one build holds (each a signature per signing key)
ABSENT = 0xFF00  # a private type no name has: a NODATA's NSEC lists every type a name has


def _record_end(body: bytes, pos: int) -> int:
    """Where the record at `pos` ends (its owner may be or end in a pointer)."""
    while True:
        n = body[pos]
        if n & 0xC0 == 0xC0:
            pos += 2
            break
        pos += n + 1
        if n == 0:
            break
    (size,) = struct.unpack_from("!H", body, pos + 8)
    end = pos + 10 + size
    if end > len(body):
        raise ValueError("a record past the body")
    return end


def _sections(body: bytes, counts: tuple[int, int, int]) -> list[bytes]:
    """The body split into its answer, authority and additional records."""
    out, pos = [], 0
    for count in counts:
        start = pos
        for _ in range(count):
            pos = _record_end(body, pos)
        out.append(body[start:pos])
    if pos != len(body):
        raise ValueError("records past the counts")
    return out


def query(qname: bytes, qtype: int) -> w.Query:
    """A DO query for the question (names in the answers point at offset 12)."""
    data = struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 1) + qname + struct.pack("!HH", qtype, 1)
    return w.parse_query(data + b"\x00" + struct.pack("!HHIH", 41, 1232, w.EDNS_DO, 0))


class Presigner:
    """Signed variants for one build: `zones` maps a signed zone's origin text to its
    ZoneTable (its signer inside); `left` counts down from the cap."""

    def __init__(self, zones: dict[str, Any], cap: int = CAP) -> None:
        self.zones = zones
        self.cap = self.left = cap
        self.memo: dict[tuple, tuple[bytes, bytes] | None] = {}

    def fresh(self) -> Presigner:
        """One for a new build of the decisions (every health change): the same zones, a
        cap and memo of its own (the signer's cache keeps the signatures themselves)."""
        return Presigner(self.zones, self.cap)

    def until(self) -> int:
        """When the signing week of these answers ends (sign.window: its inception is the
        previous week's start): from then the slow path signs in the next window."""
        return min(zt.signer.window()[0] + 2 * sign.WEEK for zt in self.zones.values())

    def signs(self, zone: str) -> bool:
        return zone in self.zones

    def variant(
        self, zone: str, qname: bytes, qtype: int, heads: bytes, body: bytes
    ) -> tuple[bytes, bytes] | None:
        """(80 bytes of heads, records with RRSIGs) a DO query for (qname, qtype) gets in
        place of (heads, body), or None: not a positive authoritative answer, or past the
        cap (then it is Python's)."""
        key = (zone, qname, qtype, heads[:10], body)
        if key in self.memo:
            return self.memo[key]
        found = None
        zt = self.zones.get(zone)
        an, ns, ar = struct.unpack_from("!HHH", heads, 4)
        aa, rcode = bool(heads[0] & 0x04), heads[1] & 0x0F
        if zt is not None and an and aa and rcode == 0 and self.left > 0:
            found = self._sign(zt, qname, qtype, body, (an, ns, ar))
        self.memo[key] = found
        return found

    def nodata(self, zt: Any, name: bytes, qtype: int = ABSENT) -> tuple[int, bytes] | None:
        """(count, records) a NODATA for (name, qtype) carries after its SOA when signed
        (the RRSIG SOA, the name's NSEC without qtype, its RRSIG)."""
        key = (zt.origin, name, qtype, "nodata")
        if key in self.memo:
            return self.memo[key]  # type: ignore[return-value]
        soa = zt.soa_negative.at(12 + len(name) - len(zt.origin))
        reply = Reply(0, True, [], [soa], [], [0, 1, 0])
        out = sign_reply(query(name, qtype), reply, zt, zt.signer)
        found = None
        if out.rcode == 0 and out.counts[AUTH] > 1 and not out.counts[0] and not out.counts[2]:
            self.left -= 1
            found = out.counts[AUTH] - 1, b"".join(out.authority)[len(soa) :]
        self.memo[key] = found  # type: ignore[assignment]
        return found

    def referral(self, zt: Any, name: bytes) -> tuple[bytes, bytes] | None:
        """(heads, records) of the signed referral a DO query for `name` at or below a cut
        gets: the NS, the DS and its RRSIG (or the NSEC proving none, and its RRSIG), glue."""
        reply = chase.probe(zt, name)
        if reply.aa or reply.answer or reply.rcode != 0 or self.left <= 0:
            return None
        out = sign_reply(query(name, w.T_A), reply, zt, zt.signer)
        self.left -= 1
        signed = b"".join(out.answer) + b"".join(out.authority) + b"".join(out.additional)
        return b"".join(make_heads(False, 0, *out.counts)), signed

    def _sign(self, zt: Any, qname: bytes, qtype: int, body: bytes, counts: tuple) -> Any:
        answer, authority, additional = _sections(body, counts)
        reply = Reply(0, True, [answer], [authority], [additional], list(counts))
        out = sign_reply(query(qname, qtype), reply, zt, zt.signer)
        if out.rcode != 0 or not out.aa:
            return None
        self.left -= 1
        signed = b"".join(out.answer) + b"".join(out.authority) + b"".join(out.additional)
        return b"".join(make_heads(True, 0, *out.counts)), signed


def for_table(table: Any, cap: int | None = None) -> Presigner | None:
    """The presigner of a compiled Table's signed zones (at most `cap` variants, CAP by
    default), or None when none is signed."""
    zones = {zt.zone.origin_text: zt for zt in table.zones.values() if zt.origin in table.signed}
    return Presigner(zones, CAP if cap is None else cap) if zones else None


def add_static(
    native: Any, presigner: Presigner | None, key: bytes, zone: str, heads: bytes, body: bytes
) -> None:
    """A static entry's signed variant into the native table, when its zone is signed
    (heads: at least the first 10 bytes, its counts)."""
    if presigner is None or not presigner.signs(zone):
        return
    qtype = int.from_bytes(key[-4:-2], "big")
    found = presigner.variant(zone, key[:-4], qtype, heads[:10], body)
    if found is not None:
        native.add_signed(key, *found)


def add_referral(native: Any, presigner: Presigner | None, zt: Any, key: bytes) -> None:
    """A cut's signed referrals into its REFERRAL entry: asked at the cut (the DS or NSEC
    owner a pointer to the question) and below it (written out), the latter made for a
    name one 1-byte label below the cut (the C moves its pointers on for longer names)."""
    if presigner is None or not presigner.signs(zt.zone.origin_text):
        return
    cut = key[:-4]
    at = presigner.referral(zt, cut)
    below = presigner.referral(zt, b"\x01a" + cut) if at is not None else None
    if at is not None and below is not None:
        native.add_signed(key, *at, *below)


def classes(
    presigner: Presigner | None,
    zone: str,
    owner: bytes | None,
    qtype: int,
    found: list,
    pre: bytes = b"",
) -> list:
    """A tree's native classes (native/kinds.py tuples) with each answer's signed variant
    appended (owner None: unsigned); draws' and sticky picks' too. pre: a CNAME chain's
    records before the policy's (the signed variant holds them, with their RRSIGs)."""
    if presigner is None or owner is None or not presigner.signs(zone):
        return found
    return [_signed_class(presigner, (zone, owner, qtype, pre), c) for c in found]


def _signed_class(presigner: Presigner, of: tuple, c: tuple) -> tuple:
    if isinstance(c[0], str):  # ("draw", outcomes) or ("sticky", bits4, bits6, outcomes)
        outcomes = [(*o[:-1], _signed_class(presigner, of, o[-1])) for o in c[-1]]
        return (*c[:-1], outcomes)
    zone, owner, qtype, pre = of
    heads, body, _pool, python = c[:4]
    if python:
        return c
    if not body:  # NODATA for the type asked (the pool lacks the family, or none is up)
        return c if pre else _signed_nodata(presigner, zone, owner, qtype, c)
    if len(c) > 4:
        return _signed_rotation(presigner, of, c)
    found = presigner.variant(zone, owner, qtype, heads, pre + body)
    return c if found is None else (*c, -1, 0, 0, *found)


def _signed_nodata(presigner: Presigner, zone: str, owner: bytes, qtype: int, c: tuple) -> tuple:
    """A NODATA class's signed variant: heads with its authority records counted, and the
    records after the entry's SOA (which the C places for the name, as unsigned)."""
    if presigner.left <= 0:
        return c
    found = presigner.nodata(presigner.zones[zone], owner, qtype)
    if found is None or c[0][4:6] != b"\0\0":  # a CNAME chain's records first: Python's
        return c
    count, records = found
    signed = (b"".join(make_heads(True, 0, 0, 1 + count, 0)), records)
    return (*c, *signed) if len(c) > 4 else (*c, -1, 0, 0, *signed)


def _signed_rotation(presigner: Presigner, of: tuple, c: tuple) -> tuple:
    """max_answers N over n records: one signed body per start when n > N (each its N
    records from there, wrapping, as csrc/answer/rotate.c takes them, and their RRSIGs),
    joined; else the one body as it is (nothing rotates)."""
    zone, owner, qtype, pre = of
    heads, body, _pool, _python, _rot, most, size = c
    n = len(body) // size
    starts = range(n) if n > most else [None]
    bodies = []
    for i in starts:
        records = body if i is None else (body[i * size :] + body[: i * size])[: most * size]
        found = presigner.variant(zone, owner, qtype, heads, pre + records)
        if found is None or found[0] != (bodies[0][0] if bodies else found[0]):
            return c
        bodies.append(found)
    if len({len(b) for _, b in bodies}) != 1:  # RRSIGs of one size (they are): else Python's
        return c
    return (*c, bodies[0][0], b"".join(b for _, b in bodies))


def add_nodata(native: Any, presigner: Presigner | None, zt: Any, zone: int) -> None:
    """Each name's signed NODATA (the zone's RRSIG SOA, the name's NSEC and its RRSIG)
    into the native table, for the names whose NODATA the C answers (not at or below a
    cut, not a CNAME owner's): the NSEC lists the types the name has, whatever the type
    asked (the C answers NODATA only for a type the name lacks)."""
    if presigner is None or not presigner.signs(zt.zone.origin_text):
        return
    skip = set(chase.python_names(zt))
    for name in zt.names:
        if name in skip or _under_cut(name, zt.cuts) or presigner.left <= 0:
            continue
        found = presigner.nodata(zt, name)
        if found is not None:
            native.add_nodata(zone, name, *found)


def _under_cut(name: bytes, cuts: Any) -> bool:
    while name:
        if name in cuts:
            return True
        name = name[name[0] + 1 :]
    return False
