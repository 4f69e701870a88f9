"""TSIG (RFC 8945): find and verify a message's signature, sign a reply; HMAC, no I/O.

Our own code rather than dnspython's, because the server needs what a client library
hides: the TSIG error to answer with (BADKEY, BADSIG, BADTIME), the request's MAC to sign
the reply over, and an unsigned error reply where §5.3.2 says so.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field

from geodns.wire import FormErr

T_TSIG = 250
CLASS_ANY = 255
RCODE_NOTAUTH = 9
BADSIG, BADKEY, BADTIME, BADTRUNC = 16, 17, 18, 22
ERROR_TEXT = {0: "NOERROR", BADSIG: "BADSIG", BADKEY: "BADKEY", BADTIME: "BADTIME"}
ERROR_TEXT[BADTRUNC] = "BADTRUNC"
FUDGE = 300  # seconds of clock skew a signature may carry (RFC 8945 §10 recommends 300)
ALGORITHMS = {
    "hmac-sha1": hashlib.sha1,
    "hmac-sha224": hashlib.sha224,
    "hmac-sha256": hashlib.sha256,
    "hmac-sha384": hashlib.sha384,
    "hmac-sha512": hashlib.sha512,
}


def name_wire(text: str) -> bytes:
    """An absolute name in canonical wire form (lower case, uncompressed)."""
    labels = [lab for lab in text.lower().rstrip(".").split(".") if lab]
    return b"".join(bytes([len(lab)]) + lab.encode("ascii") for lab in labels) + b"\x00"


def name_text(wire: bytes) -> str:
    out, pos = [], 0
    while wire[pos]:
        out.append(wire[pos + 1 : pos + 1 + wire[pos]].decode("ascii", "replace"))
        pos += wire[pos] + 1
    return ".".join(out) + "."


@dataclass(frozen=True, slots=True)
class Key:
    """A shared secret by its name; `algorithm` is one of ALGORITHMS."""

    name: str
    algorithm: str
    secret: bytes = field(repr=False)

    @property
    def wire(self) -> bytes:
        return name_wire(self.name)


@dataclass(frozen=True, slots=True)
class Signature:
    """A TSIG record as found at the end of a message; `start` is where it begins."""

    start: int
    key: bytes  # canonical wire name
    algorithm: bytes  # canonical wire name
    time_signed: int
    fudge: int
    mac: bytes
    original_id: int
    error: int
    other: bytes


def read_name(data: bytes, pos: int) -> tuple[bytes, int]:
    """(the canonical wire name, the offset past it in place); pointers followed, bounded."""
    out, end, hops, n = bytearray(), -1, 0, len(data)
    while True:
        if pos >= n:
            raise FormErr("name runs past the end")
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if pos + 2 > n or hops > 64:
                raise FormErr("bad compression pointer")
            end = pos + 2 if end < 0 else end
            pos, hops = ((length & 0x3F) << 8) | data[pos + 1], hops + 1
            continue
        if length & 0xC0:
            raise FormErr("unknown label type")
        if length == 0:
            return bytes(out) + b"\x00", (pos + 1 if end < 0 else end)
        if pos + 1 + length > n or len(out) + length > 254:
            raise FormErr("label runs past the end")
        out += bytes([length]) + data[pos + 1 : pos + 1 + length].lower()
        pos += length + 1


def find(data: bytes) -> Signature | None:
    """The message's TSIG, or None; FormErr when one is anywhere but last (§5.1)."""
    if len(data) < 12:
        raise FormErr("shorter than a header")
    counts = struct.unpack_from("!4H", data, 4)
    pos, total = 12, sum(counts)
    for _ in range(counts[0]):
        pos = read_name(data, pos)[1] + 4
    for index in range(total - counts[0]):
        start = pos
        owner, pos = read_name(data, pos)
        if pos + 10 > len(data):
            raise FormErr("record header truncated")
        rtype, _, _, rdlen = struct.unpack_from("!HHIH", data, pos)
        pos += 10
        if pos + rdlen > len(data):
            raise FormErr("record data truncated")
        if rtype == T_TSIG:
            if index != total - counts[0] - 1 or pos + rdlen != len(data):
                raise FormErr("TSIG is not the last record")
            return _rdata(data, start, owner, pos, pos + rdlen)
        pos += rdlen
    return None


def _rdata(data: bytes, start: int, owner: bytes, pos: int, end: int) -> Signature:
    algorithm, pos = read_name(data, pos)
    if pos + 10 > end:
        raise FormErr("TSIG data truncated")
    high, low, fudge, size = struct.unpack_from("!HIHH", data, pos)
    pos += 10
    mac = data[pos : pos + size]
    pos += size
    if pos + 6 > end:
        raise FormErr("TSIG data truncated")
    original, error, other_len = struct.unpack_from("!HHH", data, pos)
    other = data[pos + 6 : pos + 6 + other_len]
    if pos + 6 + other_len != end:
        raise FormErr("TSIG data length mismatch")
    return Signature(start, owner, algorithm, high << 32 | low, fudge, mac, original, error, other)


def _variables(key: bytes, algorithm: bytes, when: int, fudge: int, error: int, other: bytes):
    """The TSIG variables of the digest input (§4.3.3)."""
    head = key + struct.pack("!HI", CLASS_ANY, 0) + algorithm
    tail = struct.pack("!HIHHH", when >> 32, when & 0xFFFFFFFF, fudge, error, len(other))
    return head + tail + other


def _unsigned(data: bytes, sig: Signature) -> bytes:
    """The message as it was before signing: TSIG cut, ARCOUNT one less, the original ID."""
    arcount = struct.unpack_from("!H", data, 10)[0] - 1
    head = struct.pack("!H", sig.original_id) + data[2:10] + struct.pack("!H", arcount)
    return head + data[12 : sig.start]


def digest(key: Key, message: bytes, variables: bytes, request_mac: bytes | None) -> bytes:
    prefix = b"" if request_mac is None else struct.pack("!H", len(request_mac)) + request_mac
    mac = hmac.new(key.secret, digestmod=ALGORITHMS[key.algorithm])
    mac.update(prefix + message + variables)
    return mac.digest()


def verify(
    data: bytes, sig: Signature, keys: dict[bytes, Key], now: int, request_mac: bytes | None = None
) -> tuple[int, Key | None]:
    """(TSIG error, the key): 0 when the signature holds; BADKEY, BADSIG (a MAC that is
    wrong or too short, §5.2.2.1) or BADTIME. The key is None only for BADKEY."""
    key = keys.get(sig.key)
    if key is None or name_wire(key.algorithm) != sig.algorithm:
        return BADKEY, None
    variables = _variables(sig.key, sig.algorithm, sig.time_signed, sig.fudge, sig.error, sig.other)
    full = digest(key, _unsigned(data, sig), variables, request_mac)
    shortest = max(10, len(full) // 2)
    if not shortest <= len(sig.mac) <= len(full):
        return BADSIG, key
    if not hmac.compare_digest(full[: len(sig.mac)], sig.mac):
        return BADSIG, key
    if abs(now - sig.time_signed) > sig.fudge:
        return BADTIME, key
    return 0, key


def sign(
    message: bytes,
    key: Key,
    now: int,
    request_mac: bytes | None,
    error: int = 0,
    other: bytes = b"",
) -> bytes:
    """`message` with a TSIG appended (ARCOUNT + 1), signed over `request_mac` (a reply)."""
    algorithm = name_wire(key.algorithm)
    mac = digest(
        key, message, _variables(key.wire, algorithm, now, FUDGE, error, other), request_mac
    )
    return _append(message, key.wire, algorithm, now, mac, error, other)


def unsigned_error(message: bytes, sig: Signature, error: int, now: int) -> bytes:
    """A reply carrying the TSIG error and no MAC (BADKEY, BADSIG: §5.3.2)."""
    return _append(message, sig.key, sig.algorithm, now, b"", error, b"")


def _append(
    message: bytes, key: bytes, alg: bytes, now: int, mac: bytes, error: int, other: bytes
) -> bytes:
    original_id = struct.unpack_from("!H", message)[0]
    rdata = alg + struct.pack("!HIHH", now >> 32, now & 0xFFFFFFFF, FUDGE, len(mac)) + mac
    rdata += struct.pack("!HHH", original_id, error, len(other)) + other
    record = key + struct.pack("!HHIH", T_TSIG, CLASS_ANY, 0, len(rdata)) + rdata
    arcount = struct.unpack_from("!H", message, 10)[0] + 1
    return message[:10] + struct.pack("!H", arcount) + message[12:] + record


def time_other(now: int) -> bytes:
    """BADTIME's Other Data: the server's time, 48 bits (§5.2.3)."""
    return struct.pack("!HI", now >> 32, now & 0xFFFFFFFF)
