"""Signed bus entries: writer, hybrid-logical time and an HMAC; rejections counted and logged.

Every value on the fleet bus is an envelope, `GDNS1 {"w": writer, "t": hlc, "m": mac}\\n` then
the payload, where `mac` is HMAC-SHA256 with fleet.key_file's secret over the key, the
writer, the time and the payload (so an entry cannot be moved to another key, re-dated or
re-attributed). Any module writing to the bucket (votes, drains, serials, zone documents)
uses the same two calls, and gets the same protection:

    data = seal(secret, key, payload, writer, clock.now())      # before kv.put(key, data)
    entry = unseal(secret, key, data)                           # Rejected(reason) if forged

`Bus.put(key, payload)` does the first and `Bus` hands only unsealed, checked entries (a
`BusEntry` with `.writer` and `.at`) to its listeners. `Guard.admit(key, entry, live)` is the
receiver's side: beyond max_skew in the future or older than what was applied for the key
(a replay) is refused. Without a secret, entries still carry writer and time (replays and
future dates are still refused) but anyone on the bus can write them: warned once at start.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("geodns.fleet")

MAGIC = b"GDNS1 "
SHIFT = 16  # an HLC time is wall-clock milliseconds << 16 | a counter
REASONS = ("malformed", "unsigned", "bad_mac", "writer", "future", "replay")
LOG_EVERY = 60.0


class Rejected(Exception):
    """An entry refused; `reason` is one of REASONS (the metric's label)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Sealed:
    """An entry's payload with who wrote it and when (HLC)."""

    writer: str
    at: int
    value: bytes


def wall_of(at: int) -> float:
    """The epoch seconds of an HLC time."""
    return (at >> SHIFT) / 1000.0


def mac(secret: bytes, key: str, value: bytes, writer: str, at: int) -> str:
    """HMAC-SHA256 over key, writer, time and value, each length-prefixed (no ambiguity)."""
    h = hmac.new(secret, b"geodns-bus-1", hashlib.sha256)
    for part in (key.encode(), writer.encode(), str(at).encode(), value):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def seal(secret: bytes | None, key: str, value: bytes, writer: str, at: int) -> bytes:
    """The envelope for `value` under `key`: writer, time and (with a secret) the MAC."""
    head = {"w": writer, "t": at, "m": mac(secret, key, value, writer, at) if secret else ""}
    return MAGIC + json.dumps(head, separators=(",", ":")).encode() + b"\n" + value


def unseal(secret: bytes | None, key: str, data: bytes | None) -> Sealed:
    """The entry inside an envelope, its MAC checked when we hold a secret."""
    if not data or not data.startswith(MAGIC) or b"\n" not in data:
        raise Rejected("malformed" if secret is None else "unsigned", "no envelope")
    head_text, _, value = data[len(MAGIC) :].partition(b"\n")
    try:
        head = json.loads(head_text)
        writer, at, got = head["w"], head["t"], head["m"]
    except (ValueError, KeyError, TypeError) as exc:
        raise Rejected("malformed", f"envelope: {exc}") from exc
    if not isinstance(writer, str) or type(at) is not int or at < 0 or not isinstance(got, str):
        raise Rejected("malformed", "envelope fields")
    if secret is not None:
        if not got:
            raise Rejected("unsigned")
        if not hmac.compare_digest(got, mac(secret, key, value, writer, at)):
            raise Rejected("bad_mac", f"writer {writer!r}")
    return Sealed(writer, at, value)


class Hlc:
    """A hybrid logical clock: never behind the wall clock, never behind anything observed
    (within max_skew), so `newest wins` orders causally related writes right."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.wall, self.last = wall, 0

    def now(self) -> int:
        self.last = max(self.last + 1, int(self.wall() * 1000) << SHIFT)
        return self.last

    def observe(self, at: int) -> None:
        self.last = max(self.last, at)


class Guard:
    """The receiver's checks after the MAC: not from the future, not older than what was
    applied for the key. Counts every refusal by reason; logs each reason at most once a
    minute (with how many were refused since)."""

    def __init__(self, max_skew: float, wall: Callable[[], float] = time.time) -> None:
        self.max_skew, self.wall = max_skew, wall
        self.applied: dict[str, tuple[int, str]] = {}  # key -> (time, writer) last admitted
        self.rejected: Counter[str] = Counter()
        self._logged: dict[str, tuple[float, int]] = {}  # reason -> (when logged, count then)

    def admit(self, key: str, entry: Sealed) -> None:
        """Raise Rejected for a future-dated or replayed entry; else remember it as applied.
        The same entry again (a re-read after reconnecting) is admitted: it changes nothing."""
        if wall_of(entry.at) > self.wall() + self.max_skew:
            ahead = wall_of(entry.at) - self.wall()
            raise Rejected("future", f"{key} from {entry.writer!r} dated {ahead:.0f}s ahead")
        stamp = (entry.at, entry.writer)
        held = self.applied.get(key)
        if held is not None and stamp < held:
            raise Rejected("replay", f"{key} from {entry.writer!r} older than applied")
        self.applied[key] = stamp

    def count(self, key: str, exc: Rejected) -> None:
        """Count a refusal; log it unless this reason was logged within the last minute."""
        self.rejected[exc.reason] += 1
        now = time.monotonic()
        when, then = self._logged.get(exc.reason, (-LOG_EVERY, 0))
        if now - when < LOG_EVERY:
            return
        total = self.rejected[exc.reason]
        self._logged[exc.reason] = (now, total)
        log.warning(
            "fleet: ignored a bus entry (%s, %d since last said): %s; key %s",
            exc.reason,
            total - then,
            exc,
            key,
        )
