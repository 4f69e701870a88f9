"""One zone's signer: its keys, the apex key sets, and RRSIGs cached by what they cover.

Signatures are keyed by content (owner, type, TTL, records, validity window), never by
name alone, so a changed answer can never be served with an old signature (the trap of
CoreDNS #4448), and every distinct answer set is signed once per week.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

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
        self.built = int(clock())  # the state below holds until the next key event
        self.state = keyset.require_signing(keys, zone, directory, self.built)
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


def key_files(signers: list[ZoneSigner]) -> list[str]:
    """The key files (and their folders) a reload watcher should look at."""
    out: list[str] = []
    for signer in signers:
        out.append(signer.directory)
        out += sorted(str(p) for p in Path(signer.directory).glob("K*.*"))
    return out


def window_moved(signer: ZoneSigner) -> bool:
    """Whether the signing window now differs from the one when the signer was built
    (what answers signed ahead, on the native path, carry)."""
    return signer.window() != sign.window(signer.built)


def next_key_event(signers: list[ZoneSigner], now: float) -> int | None:
    """When the first key timing event after `now` falls (then the answers are rebuilt)."""
    events = [keyset.next_event(s.keys, int(now)) for s in signers]
    return min((e[0] for e in events if e is not None), default=None)


def load(zone: str, directory: str, clock: Callable[[], float] = time.time) -> ZoneSigner:
    """The signer of a zone from its key directory; KeyError_ names the file or the gap."""
    return ZoneSigner(zone, keyset.load_dir(directory, zone), directory, clock)
