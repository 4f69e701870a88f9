"""Drains on the bus: records merged newest-first into the board, written back when stale."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from geodns.fleet import votes
from geodns.fleet.bus import BusEntry
from geodns.fleet.drains import Drain
from geodns.fleet.seal import Rejected
from geodns.fleet.votes import DOWN
from geodns.model import MemberKey, Pool

log = logging.getLogger("geodns.fleet")


class DrainSync:
    """The drain half of Fleet (coordinator.py holds the state: book, drains, pending,
    _in_bucket, board, bus, hlc, local, pools, clock, instance, enabled, _poke)."""

    book: Any
    board: Any
    bus: Any
    drains: dict[MemberKey, Drain]
    pending: set[MemberKey]
    _in_bucket: dict[MemberKey, tuple[int, str]]
    clock: Any
    hlc: Any
    local: Any
    pools: Any
    instance: str
    enabled: bool
    _poke: Any

    def _healthy(self, member: MemberKey) -> bool:
        """Up by the checks (the quorum's or our own), drains aside."""
        status = self.board.status(member)
        return status is None or (status.quorum or status.state) != DOWN

    def _apply_drains(self) -> None:
        """The board follows the book: newest records, expiries, min_healthy holds."""
        pools: list[Pool] = list(self.pools())
        out = self.book.decide(self.clock(), pools, self._healthy)
        self.drains = {m: r for m, r in self.book.active(self.clock()).items() if m in out}
        for member in self.board.members():
            status = self.board.status(member)
            if status is not None and status.drained != (member in out):
                (self.board.drain if member in out else self.board.undrain)(member)

    def _drain_entry(self, entry: BusEntry) -> None:
        """A drain record: taken if newest; if what the bucket now holds is older than ours
        (a heal, or a stale writer), ours is written back so the bucket converges too."""
        record = Drain.from_bytes(entry.value or b"")
        if votes.member_key(record.member) != entry.key or record.writer != entry.writer:
            raise_writer(entry, record.writer)
        self._in_bucket[record.member] = record.stamp
        if self.book.merge(record):
            self._apply_drains()
            self.local.save_drains(self.book.records)
        elif self.book.records[record.member].stamp > record.stamp:
            self.pending.add(record.member)
            self._poke.set()

    def _replayed(self, key: str) -> None:
        """The bucket now holds an older drain record than ours: write ours back."""
        for member in self.book.records:
            if votes.member_key(member) == key:
                self.pending.add(member)
                self._poke.set()

    # -- drains ----------------------------------------------------------------------------

    async def set_drain(self, record: Drain) -> str:
        """Drain or undrain (a record either way) fleet-wide; applied here at once. Off the
        bus it is kept in state_dir and written to the bucket when we rejoin, unless a newer
        record for the member arrived meanwhile. Says where it went."""
        record = replace(record, hlc=self.hlc.now(), writer=self.instance)
        self.book.merge(record)
        self._apply_drains()
        self.local.save_drains(self.book.records)
        if not self.enabled:
            return "state_dir" if self.local.folder else "memory"
        self.pending.add(record.member)
        try:
            await self._flush()
            return "fleet"
        except Exception as exc:
            log.warning(
                "fleet: drain of %s kept locally until the bus is back: %s",
                "/".join(record.member),
                exc,
            )
            return "pending"

    async def _flush(self) -> None:
        """Write the records the bucket lacks (made off the bus, or newer than it holds)."""
        if self.bus is None:
            return
        for member in sorted(self.pending):
            record = self.book.records.get(member)
            if record is not None:
                await self.bus.put(votes.member_key(member), record.to_bytes())
            self.pending.discard(member)


def raise_writer(entry: BusEntry, claimed: str) -> None:
    """An entry whose envelope's writer is not the one its key and body name: refused."""
    raise Rejected("writer", f"{entry.key} written by {entry.writer!r} for {claimed!r}")
