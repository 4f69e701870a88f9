"""One instance's seat in the fleet: publishes its verdicts, counts the votes into the board."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from geodns import __version__
from geodns.config import Config
from geodns.fleet import votes
from geodns.fleet.bus import DELETED, Bus, Entry
from geodns.fleet.drains import Drain, StateDir
from geodns.fleet.serials import agree
from geodns.fleet.votes import DEGRADED, JOINED, OFF, Record, Tally
from geodns.health.board import HealthBoard
from geodns.model import MemberKey, Zone

log = logging.getLogger("geodns.fleet")
FIRST_CONTACT = 3.0  # how long start() waits for the bus before going on without it


class Fleet:
    """The board's effective state of a member becomes the quorum of fresh instances while
    joined; alone or off the bus, our own probes decide (never worse than no fleet). Drains
    live in the bucket (or state_dir) and reach the board here. Use `start()`/`stop()`."""

    def __init__(self, conf: Config, board: HealthBoard, clock: Any = time.time) -> None:
        self.conf, self.fleet_conf, self.board, self.clock = conf, conf.fleet, board, clock
        self.instance = conf.instance_name()
        self.enabled = bool(conf.fleet.nats)
        self.local = StateDir(conf.state_dir)
        self.peers: dict[str, Record] = {}  # other instances, by name, as last heard
        self.drains: dict[MemberKey, Drain] = self.local.load_drains()
        self.pending: dict[MemberKey, Drain | None] = {}  # drain changes made off the bus
        self.tallies: dict[MemberKey, Tally] = {}
        self.generation = ""
        self.warm: dict[MemberKey, str] = {}
        self.on_join: list[Any] = []  # called (no arguments) each time we (re)join
        self.bus = Bus(conf.fleet, self._entry, self._synced, self._lost) if self.enabled else None
        self._poke = asyncio.Event()
        self._joined = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        board.verdict_listeners.append(lambda member, state: self._poke.set())

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Read what was kept (drains, our last verdicts), join the bus if there is one."""
        at, verdicts = self.local.load_verdicts()
        self._warm_from(at, verdicts, "state_dir")
        if self.bus is not None:
            self._tasks.append(asyncio.create_task(self.bus.run()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._joined.wait(), FIRST_CONTACT)
            if not self._joined.is_set():
                log.warning("fleet: no bus within %gs; deciding from our own probes", FIRST_CONTACT)
        self._tasks.append(asyncio.create_task(self._beat()))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._save_verdicts()

    def _warm_from(self, at: float, verdicts: dict[MemberKey, str], where: str) -> None:
        """Our verdicts from before a restart, if younger than stale_after (else not trusted)."""
        age = self.clock() - at
        if verdicts and age <= self.fleet_conf.stale_after:
            self.warm = dict(verdicts)
            log.info("fleet: warm start from %s: %d verdicts, %.1fs old", where, len(verdicts), age)

    # -- state ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.bus is not None and self.bus.kv is not None

    def fresh_peers(self) -> list[Record]:
        return votes.fresh(self.peers.values(), self.clock(), self.fleet_conf.stale_after)

    def state(self) -> str:
        if not self.enabled:
            return OFF
        return JOINED if self.connected and self.fresh_peers() else DEGRADED

    def summary(self) -> dict[str, Any]:
        """The `fleet` block of /api/v1/status."""
        count = 1 + len(self.fresh_peers()) if self.connected else 1
        return {"state": self.state(), "instances": count}

    # -- wiring to the board ---------------------------------------------------------------

    def members_changed(self) -> None:
        """After the board got a (re)loaded member set: warm verdicts, drains, the quorum."""
        warm, self.warm = self.warm, {}
        seeded = sum(1 for member, state in warm.items() if self.board.seed(member, state))
        if seeded:
            log.info("fleet: %d members start from their saved verdicts", seeded)
        for member in self.board.members():
            status = self.board.status(member)
            if status is not None and status.drained != (member in self.drains):
                self._apply_drain(member, member in self.drains)
        self.recount()

    def recount(self) -> None:
        """Count the votes of the fresh instances into the board (or hand it back to our probes)."""
        if self.state() != JOINED:
            self.tallies = {}
            self.board.set_quorum({})
            return
        voters = [self.board.own_verdicts(), *(r.verdicts for r in self.fresh_peers())]
        self.tallies = votes.tally(self.board.members(), voters, self.fleet_conf.quorum)
        self.board.set_quorum({m: t.verdict for m, t in self.tallies.items()})

    def _apply_drain(self, member: MemberKey, drained: bool) -> None:
        if drained:
            self.board.drain(member)
        else:
            self.board.undrain(member)

    # -- the bus ---------------------------------------------------------------------------

    def _entry(self, entry: Entry) -> None:
        """One change in the bucket: another instance's record, or a drain set or lifted."""
        key, gone = entry.key, entry.operation in DELETED
        try:
            if key.startswith("inst."):
                self._peer(key, entry.value, gone)
            elif key.startswith("drain."):
                self._drain_entry(entry.value, gone, key)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("fleet: ignoring malformed %s: %s", key, exc)

    def _peer(self, key: str, value: bytes | None, gone: bool) -> None:
        if key == "inst." + votes.key_part(self.instance):
            if value and not gone and not self._joined.is_set():
                mine = Record.from_bytes(value)
                self._warm_from(mine.at, dict(mine.verdicts), "the bus")
            return
        if gone or not value:
            return
        record = Record.from_bytes(value)
        self.peers[record.instance] = record
        self.recount()

    def _drain_entry(self, value: bytes | None, gone: bool, key: str) -> None:
        member = next((m for m in self.drains if votes.member_key(m) == key), None)
        if gone:
            if member is not None:
                del self.drains[member]
                self._apply_drain(member, False)
        elif value:
            drain = Drain.from_bytes(value)
            self.drains[drain.member] = drain
            self._apply_drain(drain.member, True)
        self.local.save_drains(self.drains)

    async def _synced(self) -> None:
        """The bucket's contents are in: push what changed off the bus, say we joined."""
        assert self.bus is not None and self.bus.kv is not None
        for member, drain in list(self.pending.items()):
            await self._store(member, drain)
        self.pending.clear()
        self._joined.set()
        await self._publish()
        self.recount()
        log.info(
            "fleet: joined bucket %r (%d other instances)", self.fleet_conf.bucket, len(self.peers)
        )
        for callback in self.on_join:
            callback()

    def _lost(self) -> None:
        self._joined.clear()
        if self._stopping:
            return
        log.warning("fleet: lost the bus; deciding from our own probes until it is back")
        self.recount()

    async def _publish(self) -> None:
        kv = self.bus.kv if self.bus is not None else None
        if kv is None:
            return
        verdicts = self.board.own_verdicts()
        now, state = self.clock(), self.state()
        record = Record(self.instance, __version__, self.generation, now, state, verdicts)
        await kv.put("inst." + votes.key_part(self.instance), record.to_bytes())

    async def _beat(self) -> None:
        """Publish on every verdict change and at least every stale_after/3; recount as peers
        go stale; keep our verdicts in state_dir for a warm restart."""
        tick = min(self.fleet_conf.stale_after / 4, 1.0)
        beat = self.fleet_conf.stale_after / 3
        last = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), tick)
            poked = self._poke.is_set()
            self._poke.clear()
            if poked or self.clock() - last >= beat:
                last = self.clock()
                try:
                    await self._publish()
                except Exception as exc:  # the session notices and starts over
                    log.debug("fleet: publish failed: %s", exc)
                self._save_verdicts()
            self.recount()

    def _save_verdicts(self) -> None:
        self.local.save_verdicts(self.clock(), self.board.own_verdicts())

    # -- drains ----------------------------------------------------------------------------

    async def set_drain(self, member: MemberKey, drain: Drain | None) -> str:
        """Drain (a record) or undrain (None) fleet-wide; applied here at once. Off the bus
        it is kept locally and written to the bucket when we rejoin. Says where it went."""
        self._apply_drain(member, drain is not None)
        if drain is None:
            self.drains.pop(member, None)
        else:
            self.drains[member] = drain
        self.local.save_drains(self.drains)
        if not self.enabled:
            return "state_dir" if self.local.folder else "memory"
        try:
            await self._store(member, drain)
            return "fleet"
        except Exception as exc:
            self.pending[member] = drain
            log.warning("fleet: drain of %s kept locally until the bus is back: %s", member, exc)
            return "pending"

    async def _store(self, member: MemberKey, drain: Drain | None) -> None:
        kv = self.bus.kv if self.bus is not None else None
        if kv is None:
            raise ConnectionError("not on the bus")
        if drain is None:
            await kv.delete(votes.member_key(member))
        else:
            await kv.put(votes.member_key(member), drain.to_bytes())

    # -- serials and generations -----------------------------------------------------------

    async def agree_serials(self, zones: Iterable[Zone]) -> dict[tuple[str, str], int]:
        """(zone, content hash) -> the serial the fleet agreed on; {} off the bus."""
        kv = self.bus.kv if self.bus is not None else None
        agreed: dict[tuple[str, str], int] = {}
        for zone in zones:
            if kv is None or not zone.serial_auto:
                continue
            try:
                agreed[(zone.origin_text, zone.content_hash)] = await agree(kv, zone)
            except Exception as exc:
                log.warning(
                    "fleet: serial of %s not agreed (%s): content-derived", zone.origin_text, exc
                )
        return agreed

    def set_generation(self, generation: str) -> None:
        if generation != self.generation:
            self.generation = generation
            self._poke.set()
