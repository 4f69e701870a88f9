"""RRSIGs, deterministic and week-aligned, and DS records (RFC 4034, 6605, 6979, 8080).

Every instance with the same keys and content must serve byte-identical signatures, so
nothing here reads a clock or a random source: the caller passes the validity window
(`window`, aligned to the week as PowerDNS does) and ECDSA nonces follow RFC 6979.
"""

from __future__ import annotations

import hashlib
import struct

from geodns.dnssec.keyfile import Key
from geodns.names import lower_wire, name_to_wire, wire_labels

WEEK = 7 * 86400
T_RRSIG, T_DNSKEY, T_NSEC, T_CDS, T_CDNSKEY = 46, 48, 47, 59, 60
CLASS_IN = 1


def window(now: float) -> tuple[int, int]:
    """(inception, expiration): from the start of last week to two weeks after this one's
    start. Every instance computes the same pair all week; inception is always in the past
    and expiration at least a week ahead, so a clock jump never makes a future inception."""
    start = int(now) - int(now) % WEEK
    return start - WEEK, start + 2 * WEEK


def label_count(owner: bytes) -> int:
    """The RRSIG Labels field: the owner's labels, not counting the root or a leading `*`."""
    labels = wire_labels(owner)
    return len(labels) - (1 if labels and labels[0] == b"*" else 0)


def canonical_rrset(owner: bytes, rtype: int, ttl: int, rdatas: list[bytes]) -> bytes:
    """RFC 4034 §6.3: lowercase owner, the RRSIG's original TTL, records sorted by rdata
    (rdatas must already be canonical: uncompressed, names in them lowercased), no dups."""
    head = lower_wire(owner) + struct.pack("!HHI", rtype, CLASS_IN, ttl)
    return b"".join(head + struct.pack("!H", len(r)) + r for r in sorted(set(rdatas)))


def rrsig_header(
    key: Key, signer: bytes, owner: bytes, rtype: int, ttl: int, when: tuple[int, int]
) -> bytes:
    """The RRSIG rdata before its signature field (what is signed, then sent)."""
    inception, expiration = when
    fixed = struct.pack(
        "!HBBIIIH", rtype, key.algorithm, label_count(owner), ttl, expiration, inception, key.tag
    )
    return fixed + lower_wire(signer)


def raw_signature(key: Key, data: bytes) -> bytes:
    """Ed25519 is deterministic by design; ECDSA uses RFC 6979 nonces, as r||s (RFC 6605).
    Made by libcrypto in C where the extension has the signer, else by `cryptography`: the
    same bytes either way (geodns/dnssec/signer.py)."""
    return key.signer(data)


def sign_rrset(
    key: Key,
    signer: bytes,
    owner: bytes,
    rtype: int,
    ttl: int,
    rdatas: list[bytes],
    when: tuple[int, int],
) -> bytes:
    """The RRSIG rdata covering (owner, rtype) — for a wildcard answer pass the wildcard's
    owner (`*.wild.zone.`): the one signature then serves every name it synthesizes."""
    header = rrsig_header(key, signer, owner, rtype, ttl, when)
    return header + raw_signature(key, header + canonical_rrset(owner, rtype, ttl, rdatas))


def ds_rdata(key: Key, digest_type: int = 2) -> bytes:
    """The parent's DS for this key (SHA-256 by default, RFC 4509)."""
    if digest_type != 2:
        raise ValueError("geodns makes SHA-256 (type 2) DS records")
    owner = lower_wire(name_to_wire(_absolute(key.zone)))
    digest = hashlib.sha256(owner + key.rdata).digest()
    return struct.pack("!HBB", key.tag, key.algorithm, digest_type) + digest


def _absolute(zone: str) -> str:
    return zone if zone.endswith(".") else zone + "."
