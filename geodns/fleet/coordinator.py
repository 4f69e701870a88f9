"""One instance's seat in the fleet: publishes its verdicts, counts the votes into the board."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from geodns import __version__
from geodns.config import Config
from geodns.fleet import votes
from geodns.fleet.bus import Bus, BusEntry
from geodns.fleet.drainbook import DrainBook
from geodns.fleet.drains import Drain, StateDir
from geodns.fleet.heartbeats import Heartbeats
from geodns.fleet.seal import Hlc, Rejected, wall_of
from geodns.fleet.serials import Serials
from geodns.fleet.votes import DEGRADED, DOWN, JOINED, OFF, Record, Tally
from geodns.health.board import HealthBoard
from geodns.model import MemberKey, Pool, Zone

log = logging.getLogger("geodns.fleet")
FIRST_CONTACT = 3.0  # how long start() waits for the bus before going on without it
BURST = 0.2  # verdict changes this close together share one heartbeat


class Fleet:
    """The board's effective state of a member becomes the quorum of fresh instances while
    joined; alone or off the bus, our own probes decide (never worse than no fleet). Drains
    live in the bucket (or state_dir) and reach the board here. Use `start()`/`stop()`."""

    def __init__(self, conf: Config, board: HealthBoard, clock: Any = time.time) -> None:
        self.conf, self.fleet_conf, self.board, self.clock = conf, conf.fleet, board, clock
        self.instance = conf.instance_name()
        self.enabled = bool(conf.fleet.nats)
        self.local = StateDir(conf.state_dir)
        self.beats = Heartbeats(self.instance, conf.fleet.stale_after, clock)
        self.peers: dict[str, Record] = self.beats.peers  # by name; `at`: when heard (ours)
        self._fresh_sig: frozenset[str] = frozenset()  # the voters of the last recount
        self.book = DrainBook(self.local.load_drains().values())
        self.drains: dict[MemberKey, Drain] = {}  # the drains applied (see _apply_drains)
        self.pending: set[MemberKey] = set()  # drain records made off the bus, to publish
        self._in_bucket: dict[MemberKey, tuple[int, str]] = {}  # drain stamps the bucket holds
        self.tallies: dict[MemberKey, Tally] = {}
        self.generation = ""
        self.warm: dict[MemberKey, str] = {}
        self.on_join: list[Any] = []  # called (no arguments) each time we (re)join
        self.joins = 0  # how many times on_join was called
        self.on_serial: list[Any] = []  # called when a claim moved the serial of our content
        self.on_rtt: list[Any] = []  # (zone, items): measured RTTs another instance was given
        self._rtt_seen: dict[str, int] = {}  # rtt key -> HLC time of the batch applied
        self.serials = Serials(self.local)
        self.serials.on_change.append(self._serial_moved)
        self._serial_soon: asyncio.Handle | None = None
        self._session_heard: set[str] = set()  # instances heard joined in this session
        self._floors_done = False  # our kept serials are on the bus (this session)
        self._jobs: set[asyncio.Task] = set()
        self.pools: Any = lambda: ()  # the app's current pools (min_healthy after a merge)
        self.bus = (
            Bus(conf.fleet, self._entry, self._synced, self._lost, self.instance, clock)
            if self.enabled
            else None
        )
        self.hlc = self.bus.hlc if self.bus is not None else Hlc(clock)
        if self.bus is not None:
            self.bus.on_replay.append(self._replayed)
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
        """Leave; our last heartbeat stays in the bucket (a restart starts warm from it)."""
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
        """The `fleet` block of /api/v1/status; `problems` only when there are some (why we
        are not joined, bucket trouble), `held` only when a merge kept drains back."""
        count = 1 + len(self.fresh_peers()) if self.connected else 1
        out: dict[str, Any] = {"state": self.state(), "instances": count}
        problems = [] if self.bus is None else [*self.bus.warnings]
        if self.bus is not None and self.bus.problem and not self.connected:
            problems.insert(0, self.bus.problem)
        if problems:
            out["problems"] = problems
        if self.book.held:
            out["held"] = sorted("/".join(m) for m in self.book.held)
        return out

    def rejected(self) -> dict[str, int]:
        """Bus entries ignored so far, by reason (geodns_fleet_rejected_total)."""
        return dict(self.bus.guard.rejected) if self.bus is not None else {}

    # -- wiring to the board ---------------------------------------------------------------

    def members_changed(self) -> None:
        """After the board got a (re)loaded member set: warm verdicts, drains, the quorum."""
        warm, self.warm = self.warm, {}
        seeded = sum(1 for member, state in warm.items() if self.board.seed(member, state))
        if seeded:
            log.info("fleet: %d members start from their saved verdicts", seeded)
        self._apply_drains()
        self.recount()

    def recount(self) -> None:
        """Count the votes of the fresh instances into the board (or hand it back to our probes)."""
        if self.state() != JOINED:
            self.tallies = {}
            self.board.set_quorum({})
            return
        fresh = self.fresh_peers()
        self._fresh_sig = frozenset(r.instance for r in fresh)
        voters = [self.board.own_verdicts(), *(r.verdicts for r in fresh)]
        self.tallies = votes.tally(self.board.members(), voters, self.fleet_conf.quorum)
        self.board.set_quorum({m: t.verdict for m, t in self.tallies.items()})

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

    # -- the bus ---------------------------------------------------------------------------

    def _entry(self, entry: BusEntry) -> None:
        """One admitted change in the bucket: another instance's record, or a drain record."""
        try:
            if entry.key.startswith("inst."):
                self._peer(entry)
            elif entry.key.startswith("map."):
                if self.beats.chunk(entry):
                    self.recount()
            elif entry.key.startswith("drain.") and not entry.deleted and entry.value:
                self._drain_entry(entry)
            elif entry.key.startswith("serial."):
                self.serials.entry(entry)
            elif entry.key.startswith("rtt.") and not entry.deleted and entry.value:
                self._rtt_entry(entry)
        except Rejected as exc:
            if self.bus is not None:
                self.bus.guard.count(entry.key, exc)
        except (ValueError, KeyError, TypeError) as exc:
            if self.bus is not None:
                self.bus.guard.count(entry.key, Rejected("malformed", str(exc)))

    def _peer(self, entry: BusEntry) -> None:
        """A heartbeat (see heartbeats.py); ours, read back before we joined, warms us."""
        changed = self.beats.heard(entry)
        record = self.peers.get(entry.writer)
        if record is not None and record.bus == JOINED and entry.writer != self.instance:
            self._session_heard.add(record.instance)  # its floors are on the bus
        if self.beats.own is not None and not self._joined.is_set():
            self._warm_from(*self.beats.own, "the bus")
        self.beats.own = None
        if changed:
            self.recount()

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

    async def share_rtt(self, zone: str, items: Any) -> str:
        """Measured RTTs POSTed here, for every other instance (each applies them as if
        POSTed to it); where they went: "fleet", "local" (no fleet) or "pending" (off the
        bus: not kept, the next POST carries fresh ones)."""
        if self.bus is None:
            return "local"
        body = json.dumps({"zone": zone, "items": items}, separators=(",", ":")).encode()
        try:
            await self.bus.put(f"rtt.{votes.key_part(zone)}.{votes.key_part(self.instance)}", body)
            return "fleet"
        except Exception as exc:
            log.warning("fleet: measured RTTs for %s not shared: %s", zone, exc)
            return "pending"

    def _rtt_entry(self, entry: BusEntry) -> None:
        """Another instance's batch, applied once (not again when the bucket is re-read),
        and only while its measurements would not have expired anyway."""
        if entry.writer == self.instance or self._rtt_seen.get(entry.key, -1) >= entry.at:
            return
        self._rtt_seen[entry.key] = entry.at
        if self.clock() - wall_of(entry.at) > self.conf.rtt.expire_after:
            return
        raw = json.loads(entry.value or b"")
        for callback in self.on_rtt:
            callback(str(raw["zone"]), raw["items"])

    def _retire(self, task: asyncio.Task) -> None:
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def _replayed(self, key: str) -> None:
        """The bucket now holds an older drain record than ours: write ours back."""
        for member in self.book.records:
            if votes.member_key(member) == key:
                self.pending.add(member)
                self._poke.set()

    async def _synced(self) -> None:
        """The bucket's contents are in: push what changed off the bus, say we joined."""
        assert self.bus is not None and self.bus.kv is not None
        held = self.book.records.items()
        self.pending |= {m for m, r in held if self._in_bucket.get(m) != r.stamp}
        await self._flush()
        self._joined.set()
        await self._publish()
        self.recount()
        log.info(
            "fleet: joined bucket %r (%d other instances)", self.fleet_conf.bucket, len(self.peers)
        )
        expected = {r.instance for r in self.fresh_peers()}
        self._retire(asyncio.create_task(self._after_join(expected)))

    async def _after_join(self, expected: set[str]) -> None:
        """Write our kept serials as floors, say so (our heartbeat turns from "joining" to
        "joined"), wait until the instances fresh before did the same in this session (or a
        few seconds), then tell on_join: a reload agrees serials above every floor."""
        if self.bus is not None and self.bus.kv is not None:
            try:
                await self.serials.publish_floors(self.bus)
            except Exception as exc:
                log.warning("fleet: kept serials not written to the bus: %s", exc)
        self._floors_done = True
        with contextlib.suppress(Exception):
            await self._publish()
        deadline = time.monotonic() + min(self.fleet_conf.stale_after, 5.0)
        while not expected <= self._session_heard and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.joins += 1
        for callback in self.on_join:
            callback()

    def _lost(self) -> None:
        self._joined.clear()
        self.beats.outbox.reset()
        self._in_bucket.clear()
        self._session_heard.clear()
        self._floors_done = False
        self.serials.forget()
        if self._stopping:
            return
        log.warning("fleet: lost the bus; deciding from our own probes until it is back")
        self.recount()

    async def _publish(self) -> None:
        if self.bus is None or self.bus.kv is None:
            return
        await self._flush()
        verdicts = self.board.own_verdicts()
        now, state = self.clock(), self.state() if self._floors_done else "joining"
        record = Record(self.instance, __version__, self.generation, now, state)
        try:
            for key, body in self.beats.writes(record, verdicts, self.hlc.now()):
                await self.bus.put(key, body)
        except Exception:
            self.beats.outbox.reset()  # a map half written: write a whole one next time
            raise

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
            if self.book.active(self.clock()).keys() != self.drains.keys() | self.book.held:
                self._apply_drains()  # a drain expired
            if poked or self.clock() - last >= beat:
                last = self.clock()
                try:
                    await self._publish()
                except Exception as exc:  # the session notices and starts over
                    log.debug("fleet: publish failed: %s", exc)
                self._save_verdicts()
            fresh = frozenset(r.instance for r in self.fresh_peers())
            if poked or fresh != self._fresh_sig:
                self.recount()  # our verdicts moved, or a peer went stale (or came back)
            if poked:
                await asyncio.sleep(BURST)  # a burst of verdict changes goes out as one beat

    def _save_verdicts(self) -> None:
        self.local.save_verdicts(self.clock(), self.board.own_verdicts())

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

    # -- serials and generations -----------------------------------------------------------

    async def agree_serials(self, zones: Iterable[Zone]) -> dict[tuple[str, str], int]:
        """(zone, content hash) -> its serial for `serial: auto` zones: the fleet's on the
        bus, else (or when the bus fails us) one above the largest kept in state_dir."""
        agreed: dict[tuple[str, str], int] = {}
        for zone in zones:
            if not zone.serial_auto:
                continue
            serial = None
            if self.bus is not None and self.bus.kv is not None:
                try:
                    serial = await self.serials.agree(self.bus, zone)
                except Exception as exc:
                    log.warning(
                        "fleet: serial of %s not agreed (%s): kept locally", zone.origin_text, exc
                    )
            if serial is None:
                serial = self.serials.offline(zone)
            agreed[(zone.origin_text, zone.content_hash)] = serial
        return agreed

    def _serial_moved(self) -> None:
        """Another instance claimed a newer serial for the content we serve: reload soon
        (once for a burst of claims)."""
        if self._serial_soon is not None:
            return

        def fire() -> None:
            self._serial_soon = None
            for callback in self.on_serial:
                callback()

        self._serial_soon = asyncio.get_running_loop().call_later(0.1, fire)

    def set_generation(self, generation: str) -> None:
        if generation != self.generation:
            self.generation = generation
            self._poke.set()


def raise_writer(entry: BusEntry, claimed: str) -> None:
    """An entry whose envelope's writer is not the one its key and body name: refused."""
    raise Rejected("writer", f"{entry.key} written by {entry.writer!r} for {claimed!r}")
