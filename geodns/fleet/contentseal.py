"""Zone documents on the bus sealed like every other bus entry: writer, HLC time and HMAC.

A zone record is written as `seal(secret, key, record_json, instance, hlc)` (fleet/seal.py),
so nobody without fleet.key_file can write a version every instance serves. What comes back
is refused (counted in geodns_fleet_rejected_total{reason}, logged once a minute) when it
has no or a bad MAC, is dated beyond fleet.max_skew ahead, or is not newer than the version
applied for its key: an older entry put again (a replay) gets a new revision from the
stream but keeps its old time, so the time, not the revision, says which version is newest.
The same rule, run over a key's JetStream history, gives the versions the zone API lists
and the newest sound version when the bucket's last entry for a zone is a forgery.
Without a key_file, records still carry writer and time (replays and future dates are
refused) and a plain JSON record (a bucket written before records were sealed) is read as
dated 0, so anything sealed later supersedes it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from geodns.fleet.seal import Guard, Hlc, Rejected, Sealed, seal, unseal, wall_of


@dataclass(frozen=True, slots=True)
class Entry:
    """One version of a zone as the bucket holds it, with who sealed it and when (HLC)."""

    revision: int
    record: dict  # {"document", "serial", "who", "time", "summary"}
    writer: str = ""
    at: int = 0

    @property
    def document(self) -> dict | None:
        return self.record.get("document")

    @property
    def serial(self) -> int | None:
        return self.record.get("serial")

    @property
    def stamp(self) -> tuple[int, str]:
        return (self.at, self.writer)


def parse_record(value: bytes) -> dict:
    """A zone record from its JSON, or Rejected("malformed")."""
    try:
        record = json.loads(value or b"{}")
    except ValueError as exc:
        raise Rejected("malformed", f"not JSON: {exc}") from exc
    if not isinstance(record, dict) or not isinstance(record.get("document"), dict | None):
        raise Rejected("malformed", "not a zone record")
    if record.get("document") is not None and type(record.get("serial")) is not int:
        raise Rejected("malformed", "a zone record without its serial")
    return record


class ZoneSeal:
    """This instance's side of the zones bucket's signatures: seals what it writes, checks
    (and counts refusals of) what it reads; remembers the version applied per key."""

    def __init__(
        self,
        secret: bytes | None,
        instance: str,
        max_skew: float,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.secret, self.instance = secret, instance
        self.hlc, self.guard = Hlc(wall), Guard(max_skew, wall)
        self.applied: dict[str, tuple[int, str, int]] = {}  # key -> (at, writer, revision)

    def encode(self, key: str, record: dict) -> tuple[bytes, int]:
        """The sealed bytes of `record` under `key`, and the time they carry."""
        at = self.hlc.now()
        return seal(self.secret, key, json.dumps(record).encode(), self.instance, at), at

    def open(self, key: str, revision: int, value: bytes | None) -> Entry:
        """The entry inside the envelope (MAC checked with a secret), or Rejected."""
        if self.secret is None and value and value.lstrip()[:1] == b"{":
            sealed = Sealed("", 0, value)  # a record from before sealing: oldest of all
        else:
            sealed = unseal(self.secret, key, value)
        return Entry(revision, parse_record(sealed.value), sealed.writer, sealed.at)

    def remember(self, key: str, entry: Entry) -> None:
        """A version applied (read back from state_dir at start, or written by us)."""
        held = self.applied.get(key)
        if held is None or (entry.at, entry.writer) >= held[:2]:
            self.applied[key] = (entry.at, entry.writer, entry.revision)
            self.guard.applied[key] = entry.stamp
        self.hlc.observe(entry.at)

    def vet(self, key: str, revision: int, value: bytes | None, over: Entry | None) -> Entry:
        """The entry when it is sound, not dated beyond max_skew ahead and newer than `over`
        (the version served; a replay is not), else Rejected. Changes nothing."""
        entry = self.open(key, revision, value)
        if wall_of(entry.at) > self.guard.wall() + self.guard.max_skew:
            ahead = wall_of(entry.at) - self.guard.wall()
            raise Rejected("future", f"{key} from {entry.writer!r} dated {ahead:.0f}s ahead")
        if over is not None and revision != over.revision and entry.stamp <= over.stamp:
            raise Rejected("replay", f"{key} revision {revision} from {entry.writer!r}")
        return entry

    def admit(self, key: str, revision: int, value: bytes | None) -> Entry:
        """A live or re-read entry: sound and newer than what was applied, else Rejected."""
        held = self.applied.get(key)
        over = None if held is None else Entry(held[2], {}, held[1], held[0])
        entry = self.vet(key, revision, value, over)
        self.guard.admit(key, Sealed(entry.writer, entry.at, b""))  # the metric's bookkeeping
        self.applied[key] = (entry.at, entry.writer, revision)
        self.hlc.observe(entry.at)
        return entry

    def take(self, key: str, revision: int, value: bytes | None) -> Entry | None:
        """`admit`, with a refusal counted and logged (once a minute per reason)."""
        try:
            return self.admit(key, revision, value)
        except Rejected as exc:
            self.guard.count(key, exc)
            return None

    def sound(self, key: str, history: Iterable[Any]) -> list[Entry]:
        """The versions of a key's history (nats KV entries, oldest first) that pass every
        check, each newer than the one before: what was served, without forgeries or
        replays. Counts nothing (each was counted when it arrived)."""
        out: list[Entry] = []
        for got in history:
            if getattr(got, "operation", None) in ("DEL", "PURGE"):
                continue
            with contextlib.suppress(Rejected):
                out.append(self.vet(key, got.revision, got.value, out[-1] if out else None))
        return out
