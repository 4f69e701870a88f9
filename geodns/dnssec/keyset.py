"""A zone's keys over time: which are published, which sign, and the next event.

Rollovers follow the key files' timing (BIND's Publish/Activate/Inactive/Delete), so
`dnssec-keygen -P/-A/-I/-D` and `dnssec-settime` drive them: a key is in the DNSKEY set
from Publish until Delete and signs from Activate until Inactive. A ZSK pre-published and
activated while the old one is still active gives RFC 6781's double-signature method.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from geodns.dnssec.keyfile import Key, KeyError_, read_key


@dataclass(frozen=True)
class KeyState:
    """What the key set is at one instant."""

    published: tuple[Key, ...]  # in the DNSKEY RRset
    ksks: tuple[Key, ...]  # sign DNSKEY, CDS, CDNSKEY
    zsks: tuple[Key, ...]  # sign everything else
    sync: tuple[Key, ...]  # published as CDS/CDNSKEY


def published(key: Key, now: int) -> bool:
    start = key.when("Publish") or key.when("Activate") or 0
    delete = key.when("Delete")
    return start <= now and (delete is None or now < delete)


def active(key: Key, now: int) -> bool:
    start, end = key.when("Activate"), key.when("Inactive")
    return start is not None and start <= now and (end is None or now < end)


def in_sync(key: Key, now: int) -> bool:
    start, end = key.when("SyncPublish") or 0, key.when("SyncDelete")
    return key.is_ksk and active(key, now) and start <= now and (end is None or now < end)


def state_at(keys: list[Key], now: int) -> KeyState:
    """The set at `now`; with no active ZSK the active KSKs sign everything (a CSK)."""
    shown = tuple(k for k in keys if published(k, now))
    signing = [k for k in shown if active(k, now)]
    ksks = tuple(k for k in signing if k.is_ksk)
    zsks = tuple(k for k in signing if not k.is_ksk) or ksks
    return KeyState(shown, ksks, zsks, tuple(k for k in shown if in_sync(k, now)))


def next_event(keys: list[Key], now: int) -> tuple[int, str, Key] | None:
    """The first timing event after `now` (when the answers must be re-signed)."""
    events = [
        (t, name, k) for k in keys for name, t in k.timing.items() if t > now and name != "Created"
    ]
    return min(events, key=lambda e: (e[0], e[1])) if events else None


def load_dir(directory: str | Path, zone: str) -> list[Key]:
    """Every key for `zone` in `directory` (files named K<zone>+<alg>+<tag>.key)."""
    base = zone.rstrip(".").lower()
    folder = Path(directory)
    try:
        names = sorted(p for p in folder.iterdir() if p.suffix == ".key")
    except OSError as exc:
        raise KeyError_(f"{directory}: cannot read the key directory: {exc}") from exc
    keys = [read_key(p, zone) for p in names if p.name.lower().startswith(f"k{base}.+")]
    return keys


def require_signing(keys: list[Key], zone: str, directory: str, now: int) -> KeyState:
    """The state at `now`, or an error: a zone with `dnssec` is never served unsigned."""
    state = state_at(keys, now)
    if not state.zsks or not state.ksks:
        raise KeyError_(
            f"{directory}: no active key for {zone} (need an active KSK or CSK: "
            f"`geodns dnssec keygen {zone}` or check the Activate/Inactive times)"
        )
    return state
