"""One zone's signer: its keys, the apex key sets, and RRSIGs cached by what they cover.

Signatures are keyed by content (owner, type, TTL, records, validity window), never by
name alone, so a changed answer can never be served with an old signature (the trap of
CoreDNS #4448), and every distinct answer set is signed once per week.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from geodns.dnssec import keyset, sign
from geodns.dnssec.keyfile import Key
from geodns.names import lower_wire, name_to_wire

KSK_TYPES = (sign.T_DNSKEY, sign.T_CDS, sign.T_CDNSKEY)
CACHE_LIMIT = 200_000  # signatures kept; past it the cache starts over (NSECs of floods)


class ZoneSigner:
    """Signs a zone's RRsets; `clock` is injectable so tests can walk a rollover."""

    def __init__(
        self, zone: str, keys: list[Key], directory: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.zone = zone
        self.origin = lower_wire(name_to_wire(zone))
        self.keys = keys
        self.directory = directory
        self.clock = clock
        self.state = keyset.require_signing(keys, zone, directory, int(clock()))
        self.cache: dict[tuple, bytes] = {}
        self.signed = 0  # signatures made (each one a cache miss)

    def apex_sets(self) -> dict[int, list[bytes]]:
        """DNSKEY (every published key), CDS and CDNSKEY (KSKs in their sync window)."""
        out = {sign.T_DNSKEY: [k.rdata for k in self.state.published]}
        if self.state.sync:
            out[sign.T_CDS] = [sign.ds_rdata(k) for k in self.state.sync]
            out[sign.T_CDNSKEY] = [k.rdata for k in self.state.sync]
        return out

    def window(self) -> tuple[int, int]:
        return sign.window(self.clock())

    def rrsigs(self, owner: bytes, rtype: int, ttl: int, rdatas: list[bytes]) -> list[bytes]:
        """The RRSIG rdatas covering one RRset (one per signing key of its role)."""
        when = self.window()
        key = (lower_wire(owner), rtype, ttl, tuple(sorted(rdatas)), when)
        found = self.cache.get(key)
        if found is None:
            signers = self.state.ksks if rtype in KSK_TYPES else self.state.zsks
            found = tuple(
                sign.sign_rrset(k, self.origin, owner, rtype, ttl, rdatas, when) for k in signers
            )
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()
            self.cache[key] = found
            self.signed += len(found)
        return list(found)

    def expires_in(self) -> float:
        """Seconds until the signatures served now expire (for the expiry metric)."""
        return self.window()[1] - self.clock()


def load(zone: str, directory: str, clock: Callable[[], float] = time.time) -> ZoneSigner:
    """The signer of a zone from its key directory; KeyError_ names the file or the gap."""
    return ZoneSigner(zone, keyset.load_dir(directory, zone), directory, clock)
