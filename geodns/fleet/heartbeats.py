"""Heartbeats in and out: who is fresh (by our clock), their verdicts from map + changes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace

from geodns.fleet import votes
from geodns.fleet.bus import BusEntry
from geodns.fleet.seal import Rejected, wall_of
from geodns.fleet.verdictmap import Inbox, Outbox
from geodns.fleet.votes import Record
from geodns.model import MemberKey

Changed = set[MemberKey] | None


def inst_key(name: str) -> str:
    return "inst." + votes.key_part(name)


def map_key(name: str, part: int) -> str:
    return f"map.{votes.key_part(name)}.{part}"


class Heartbeats:
    """Peers as last heard: `peers[name]` is a Record whose `at` is when it reached us (the
    sender's time can only make it older: a heartbeat read back from the bucket rather than
    arriving live) and whose verdicts are its map with the changes its heartbeat carries."""

    def __init__(self, instance: str, stale_after: float, clock: Callable[[], float]) -> None:
        self.instance, self.stale_after, self.clock = instance, stale_after, clock
        self.peers: dict[str, Record] = {}
        self.inbox, self.outbox = Inbox(), Outbox()
        self._beats: dict[str, tuple[Record, int, list]] = {}  # name -> (record, epoch, changes)
        self.own: tuple[float, dict[MemberKey, str]] | None = None  # ours, read back at join

    def heard(self, entry: BusEntry) -> Changed:
        """A heartbeat (or its deletion): the members whose votes changed (None: count all
        again, as when an instance comes, goes or was stale)."""
        if entry.deleted or not entry.value:
            gone = [n for n in self.peers if inst_key(n) == entry.key]
            for name in gone:
                del self.peers[name]
                self._beats.pop(name, None)
                self.inbox.forget(name)
            return None if gone else set()
        raw = json.loads(entry.value)
        record = Record.from_dict(raw)
        if inst_key(record.instance) != entry.key or record.instance != entry.writer:
            raise Rejected("writer", f"{entry.key} written by {entry.writer!r}")
        sent, now = wall_of(entry.at), self.clock()
        fresh = entry.live and now - sent <= self.stale_after
        record = replace(record, at=now if fresh else min(now, sent))
        epoch, changes = int(raw.get("epoch", 0)), raw.get("changes", [])
        before = self._beats.get(record.instance)
        self._beats[record.instance] = (record, epoch, changes)
        if record.instance == self.instance:
            if "verdicts" not in raw:
                self.own = (sent, self.inbox.verdicts(self.instance, epoch, changes) or {})
            return set()
        return self._refresh(record.instance, before)

    def chunk(self, entry: BusEntry) -> Changed:
        """A piece of some instance's map: when it completes the map its heartbeat named,
        that instance votes from now on (count all again)."""
        if entry.deleted or not entry.value:
            return set()
        name = self.inbox.chunk(entry.value, entry.writer)
        beat = self._beats.get(name)
        if name == self.instance or beat is None or beat[1] == 0:
            return set()
        held = self.peers.get(name)
        if held is not None and held.verdicts:
            return set()
        return self._refresh(name, None)

    def _refresh(self, name: str, before: tuple[Record, int, list] | None) -> Changed:
        record, epoch, changes = self._beats[name]
        if epoch:
            verdicts = self.inbox.verdicts(name, epoch, changes) or {}  # incomplete: no vote
            record = replace(record, verdicts=verdicts)
        old = self.peers.get(name)
        self.peers[name] = record
        if old is None or self.clock() - old.at > self.stale_after or before is None:
            return None
        if old.verdicts is record.verdicts:
            return set()
        if before[1] != epoch or not epoch:
            return None  # a new map: compare it all
        maybe = {(str(z), str(p), str(a)) for z, p, a, _ in [*before[2], *changes]}
        new = record.verdicts
        return {m for m in maybe if old.verdicts.get(m) != new.get(m)}

    def writes(
        self, record: Record, verdicts: Mapping[MemberKey, str], epoch: int
    ) -> list[tuple[str, bytes]]:
        """What to put, in order: map chunks (when a new map is due), then the heartbeat."""
        chunks, epoch, changes = self.outbox.beat(self.instance, verdicts, epoch)
        out = [(map_key(self.instance, i), chunk) for i, chunk in enumerate(chunks)]
        body = json.loads(replace(record, verdicts={}).to_bytes())
        del body["verdicts"]
        body.update(epoch=epoch, changes=changes)
        out.append((inst_key(self.instance), json.dumps(body, separators=(",", ":")).encode()))
        return out


__all__ = ["Heartbeats", "inst_key", "map_key"]
