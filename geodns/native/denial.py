"""DNSSEC compact denial on the native path: what a signed zone's NXDOMAIN for a DO query
needs so the C threads answer it (csrc/answer/denial.c signs each name's NSEC there).

RFC 9824 gives every nonexistent name its own NSEC (owner the name, next `\\000.name`), so
it cannot be signed ahead; everything else can: the SOA's RRSIGs, the NSEC's TTL, and per
signing key the RRSIG rdata before its signature (the C sets the Labels per name). The
keys are the zone signer's SigningKeys (libcrypto, callable without the GIL), so the C
signs the very bytes dns/signed.py does; where a key has none (no C signer built), the
zone's NXDOMAIN with DO stays Python's.
"""

from __future__ import annotations

from typing import Any

from geodns import wire as w
from geodns.dns.answer import AUTH, Reply
from geodns.dns.signed import sign_reply
from geodns.dnssec import sign
from geodns.dnssec.signer import native_module

PROBE = b"\x01a"  # a label below the apex: what a denial's SOA part is made for


def parts(zt: Any, query: Any) -> tuple[int, bytes, int, list, list[bytes]] | None:
    """(count, RRSIG SOA records, NSEC TTL, SigningKeys, RRSIG heads) of the zone's compact
    denial, or None when a signing key has no C signer (then Python's)."""
    signer = zt.signer
    module = native_module()
    keys = [getattr(k.signer, "__self__", None) for k in signer.state.zsks]
    if module is None or not keys or len(keys) > 4:
        return None
    if not all(isinstance(k, module.SigningKey) for k in keys):
        return None
    name = PROBE + zt.origin
    soa = zt.soa_negative.at(12 + len(name) - len(zt.origin))
    reply = Reply(w.RCODE_NXDOMAIN, True, [], [soa], [], [0, 1, 0])
    out = sign_reply(query(name, w.T_A), reply, zt, signer)
    count = out.counts[AUTH] - 2 - len(keys)  # SOA, its RRSIGs, NSEC, its RRSIGs
    if count < 1 or len(out.authority) != out.counts[AUTH]:
        return None
    ttl = min(zt.zone.soa_ttl, zt.zone.soa_minimum)  # dns/signed.py's _nsec (RFC 9077)
    when = signer.window()
    heads = [
        sign.rrsig_header(k, signer.origin, name, sign.T_NSEC, ttl, when) for k in signer.state.zsks
    ]
    return count, b"".join(out.authority[1 : 1 + count]), ttl, keys, heads


def add(native: Any, presigner: Any, zt: Any, zone: int, query: Any) -> None:
    """The zone's compact denial into the native table when it is signed (presigner: the
    build's, whose `until` also bounds these: the window is the build's)."""
    if presigner is None or not presigner.signs(zt.zone.origin_text):
        return
    found = parts(zt, query)
    if found is not None:
        native.set_denial(zone, *found)
