"""Byte-level DNS: strict query parsing (header, question, EDNS options) and record encoding."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass

# Record types we serve or name in answers.
T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_MX, T_TXT = 1, 2, 5, 6, 12, 15, 16
T_AAAA, T_SRV, T_OPT, T_DS, T_IXFR, T_AXFR, T_ANY, T_CAA = 28, 33, 41, 43, 251, 252, 255, 257
CLASS_IN = 1

TYPE_NAMES = {
    "A": T_A,
    "NS": T_NS,
    "CNAME": T_CNAME,
    "SOA": T_SOA,
    "PTR": T_PTR,
    "MX": T_MX,
    "TXT": T_TXT,
    "AAAA": T_AAAA,
    "SRV": T_SRV,
    "CAA": T_CAA,
    "ANY": T_ANY,
    "DS": T_DS,
    "AXFR": T_AXFR,
    "IXFR": T_IXFR,
}
TYPE_TEXT = {v: k for k, v in TYPE_NAMES.items()}

RCODE_NOERROR, RCODE_FORMERR, RCODE_SERVFAIL, RCODE_NXDOMAIN = 0, 1, 2, 3
RCODE_NOTIMP, RCODE_REFUSED, RCODE_BADVERS, RCODE_BADCOOKIE = 4, 5, 16, 23
RCODE_TEXT = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    16: "BADVERS",
    23: "BADCOOKIE",
}

OPT_NSID, OPT_ECS, OPT_COOKIE = 3, 8, 10
EDNS_DO = 0x8000


def type_text(qtype: int) -> str:
    return TYPE_TEXT.get(qtype, f"TYPE{qtype}")


class FormErr(Exception):
    """The query is well-framed enough to answer, but malformed: the reply is FORMERR."""


# --- parsing queries -------------------------------------------------------------------


@dataclass(slots=True)
class Edns:
    """The OPT record of a query."""

    payload: int
    version: int
    flags: int
    ecs_raw: bytes | None  # the ECS option's body as received (geo/ecs.py reads it)
    cookie: bytes | None = None  # the first COOKIE option's body (dns/cookies.py reads it)
    nsid: bool = False  # an NSID option asked who answers (RFC 5001)


EcsCheck = Callable[[bytes], None]  # raises FormErr for an ECS body that breaks the rules


@dataclass(slots=True)
class Query:
    """A parsed query. `question` is the raw question bytes, echoed byte for byte."""

    id: int
    flags: int
    opcode: int
    qname: bytes  # lower-cased wire name
    qtype: int
    qclass: int
    question: bytes
    edns: Edns | None


def _read_qname(data: bytes, pos: int) -> int:
    """Return the offset just past the question name; pointers are not valid in a query."""
    total = 0
    n = len(data)
    while True:
        if pos >= n:
            raise FormErr("question name runs past the end")
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0:
            raise FormErr("compression or extended label in question name")
        total += length + 1
        if total > 254:
            raise FormErr("question name longer than 255 octets")
        pos += length + 1


def _skip_name(data: bytes, pos: int) -> int:
    """Skip a possibly compressed name inside a record; FormErr if it is broken."""
    n = len(data)
    while True:
        if pos >= n:
            raise FormErr("record name runs past the end")
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 2 > n:
                raise FormErr("truncated compression pointer")
            return pos + 2
        if length & 0xC0:
            raise FormErr("unknown label type")
        pos += length + 1


def find_options(data: bytes, pos: int, end: int) -> tuple[bytes | None, bytes | None, bool]:
    """The one EDNS option walker (fast and slow path): (the ECS option's body, the first
    COOKIE option's body) in the OPT RDATA data[pos:end], each None when absent, and whether
    an NSID option asks who we are. Every other
    option (NSID, padding, unknown codes) is skipped: nothing we answer depends on it.
    FormErr when the RDATA is not a sequence of whole options (a header or a body past
    `end`) or holds two ECS options. `end` must not be past the packet. The bodies' content
    is geo/ecs.py's and dns/cookies.py's to judge."""
    ecs = cookie = None
    nsid = False
    while pos < end:
        body = pos + 4
        if body > end:
            raise FormErr("truncated EDNS option header")
        stop = body + (data[pos + 2] << 8 | data[pos + 3])
        if stop > end:
            raise FormErr("EDNS option runs past its record")
        if data[pos] == 0:
            code = data[pos + 1]
            if code == OPT_ECS:
                if ecs is not None:
                    raise FormErr("more than one ECS option")
                ecs = data[body:stop]
            elif code == OPT_COOKIE and cookie is None:
                cookie = data[body:stop]
            elif code == OPT_NSID:
                nsid = True
        pos = stop
    return ecs, cookie, nsid


def find_ecs(data: bytes, pos: int, end: int) -> bytes | None:
    """The ECS option's body alone (tools and tests): find_options' first half."""
    return find_options(data, pos, end)[0]


def _parse_opt(
    data: bytes, pos: int, end: int, ttl: int, payload: int, check_ecs: EcsCheck | None
) -> Edns:
    ecs, cookie, nsid = find_options(data, pos, end)
    if ecs is not None and check_ecs is not None:
        check_ecs(ecs)
    return Edns(
        payload=max(payload, 512),
        version=(ttl >> 16) & 0xFF,
        flags=ttl & 0xFFFF,
        ecs_raw=ecs,
        cookie=cookie,
        nsid=nsid,
    )


def parse_query(data: bytes, check_ecs: EcsCheck | None = None) -> Query:
    """Parse a query strictly. Callers check len(data) >= 12 and QR=0 first.

    Raises FormErr for anything a compliant client would not send; the reply is then
    FORMERR with the ID (and the question when it could be read), with an OPT when the
    fault is inside the OPT record (`had_opt`). `check_ecs` judges the ECS option's body
    (geo.ecs.check): called where the walk finds it, so the first fault found is the same
    whoever judges.
    """
    qid, flags, qdcount, ancount, nscount, arcount = struct.unpack_from("!6H", data)
    opcode = (flags >> 11) & 0xF
    if qdcount != 1:
        raise FormErr(f"QDCOUNT is {qdcount}, not 1")
    q_name_end = _read_qname(data, 12)
    if q_name_end + 4 > len(data):
        raise FormErr("question truncated")
    qtype, qclass = struct.unpack_from("!HH", data, q_name_end)
    question = bytes(data[12 : q_name_end + 4])
    pos = q_name_end + 4
    edns = None
    for index in range(ancount + nscount + arcount):
        owner = pos
        pos = _skip_name(data, pos)
        if pos + 10 > len(data):
            raise FormErr("record header truncated")
        rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", data, pos)
        pos += 10
        if pos + rdlen > len(data):
            raise FormErr("record data truncated")
        if rtype == T_OPT:
            if index < ancount + nscount:
                raise FormErr("OPT outside the additional section")
            if edns is not None:
                raise FormErr("more than one OPT record")
            if data[owner] != 0:
                raise FormErr("OPT owner is not the root")
            try:
                edns = _parse_opt(data, pos, pos + rdlen, ttl, rclass, check_ecs)
            except FormErr as exc:
                exc.had_opt = True  # type: ignore[attr-defined]
                raise
        pos += rdlen
    if pos != len(data):
        raise FormErr("trailing bytes after the last record")
    return Query(qid, flags, opcode, data[12:q_name_end].lower(), qtype, qclass, question, edns)


def question_end(data: bytes) -> int:
    """Offset past the question of a message whose header parsed, or -1 if unreadable."""
    try:
        end = _read_qname(data, 12) + 4
    except FormErr:
        return -1
    return end if end <= len(data) else -1


# --- encoding ---------------------------------------------------------------------------


def rr(owner: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    """One resource record; `owner` is wire bytes (a name or a 2-byte pointer)."""
    return owner + struct.pack("!HHIH", rtype, CLASS_IN, ttl, len(rdata)) + rdata


PTR_QNAME = b"\xc0\x0c"  # the question name, always at offset 12


def rdata_a(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def rdata_aaaa(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def rdata_txt(text: str) -> bytes:
    """A TXT string longer than 255 octets is split into 255-octet character-strings."""
    raw = text.encode()
    if not raw:
        return b"\x00"
    return b"".join(
        bytes([len(raw[i : i + 255])]) + raw[i : i + 255] for i in range(0, len(raw), 255)
    )


def rdata_soa(
    mname: bytes, rname: bytes, serial: int, refresh: int, retry: int, expire: int, minimum: int
) -> bytes:
    return mname + rname + struct.pack("!IIIII", serial, refresh, retry, expire, minimum)


def rdata_caa(flags: int, tag: str, value: str) -> bytes:
    tag_raw = tag.encode()
    return bytes([flags, len(tag_raw)]) + tag_raw + value.encode()


def opt_rr(payload: int, ext_rcode: int, flags: int, options: bytes) -> bytes:
    """Our OPT record: version 0, the DO bit copied (RFC 3225), options as given."""
    ttl = (ext_rcode << 24) | (flags & EDNS_DO)
    return b"\x00" + struct.pack("!HHIH", T_OPT, payload, ttl, len(options)) + options


# --- name compression (RFC 1035 4.1.4) against the question --------------------------------


class Compressed:
    """A record whose names point into the question name, where the zone's origin is a
    suffix: pre-encoded once with every pointer at offset 0, then `at(base)` (where the
    origin starts in the message) adds base to each pointer field in one integer sum. The
    fast path pays that, not an encoder, for a reply ~1/3 smaller."""

    __slots__ = ("mask", "size", "template")

    def __init__(self, parts: list[bytes | int]) -> None:
        raw, mask = bytearray(), 0
        pointers = []
        for part in parts:  # bytes: as they are; int: a pointer to origin[part:]
            if isinstance(part, int):
                pointers.append(len(raw))
                raw += (0xC000 | part).to_bytes(2, "big")
            else:
                raw += part
        self.size = len(raw)
        self.template = int.from_bytes(raw, "big")
        for at in pointers:
            mask += 1 << (8 * (self.size - at - 2))
        self.mask = mask

    def at(self, base: int) -> bytes:
        """The record for a message whose question holds the origin at offset `base`."""
        return (self.template + base * self.mask).to_bytes(self.size, "big")


def compress_name(name: bytes, origin: bytes) -> list[bytes | int]:
    """`name` as its own leading labels and a pointer to the longest suffix it shares with
    `origin` (label for label, the root alone not worth a pointer), or as it is."""
    lowered, origin_lower = name.lower(), origin.lower()
    pos = 0
    while name[pos]:
        tail = lowered[pos:]
        start = len(origin) - len(tail)
        if start >= 0 and origin_lower[start:] == tail and _label_start(origin, start):
            return [name[:pos], start]
        pos += name[pos] + 1
    return [name]


def pointer(offset: int) -> bytes:
    """A compression pointer to `offset` of the message (RFC 1035 4.1.4)."""
    return (0xC000 | offset).to_bytes(2, "big")


def pointer_name(name: bytes, anchor: bytes, anchor_at: int) -> bytes:
    """`name` with its longest suffix shared with `anchor` (a name written at `anchor_at` in
    the message) replaced by a pointer there; as it is when none, or too far to point at."""
    parts = compress_name(name, anchor)
    if len(parts) == 1 or anchor_at + parts[1] > 0x3FFF:  # type: ignore[operator]
        return name
    return parts[0] + pointer(anchor_at + parts[1])  # type: ignore[operator,arg-type]


def _label_start(name: bytes, offset: int) -> bool:
    pos = 0
    while pos < offset:
        pos += name[pos] + 1
    return pos == offset


def soa_record(origin: bytes, ttl: int, rdata: bytes) -> Compressed:
    """The zone's SOA owned by the origin, its MNAME and RNAME compressed against it."""
    mname_end = _skip_name(rdata, 0)
    rname_end = _skip_name(rdata, mname_end)
    mname = compress_name(rdata[:mname_end], origin)
    rname = compress_name(rdata[mname_end:rname_end], origin)
    body: list[bytes | int] = [*mname, *rname, rdata[rname_end:]]
    size = sum(2 if isinstance(p, int) else len(p) for p in body)
    head = struct.pack("!HHIH", T_SOA, CLASS_IN, ttl, size)
    return Compressed([0, head, *body])
