"""One instance's seat in the fleet: publishes its verdicts, counts the votes into the board."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from geodns import __version__
from geodns.config import Config
from geodns.fleet import votes
from geodns.fleet.bus import Bus, BusEntry
from geodns.fleet.drainbook import DrainBook
from geodns.fleet.drains import Drain, StateDir
from geodns.fleet.drainsync import DrainSync
from geodns.fleet.heartbeats import Heartbeats
from geodns.fleet.seal import Hlc, Rejected
from geodns.fleet.serials import Serials
from geodns.fleet.shared import Shared
from geodns.fleet.votes import DEGRADED, JOINED, OFF, Record, Tally
from geodns.health.board import HealthBoard
from geodns.model import MemberKey

log = logging.getLogger("geodns.fleet")
FIRST_CONTACT = 3.0  # how long start() waits for the bus before going on without it
BURST = 0.2  # verdict changes this close together share one heartbeat
RECOUNT_DELAY = 0.05  # peers' votes arriving this close together are counted once


class Fleet(DrainSync, Shared):
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
        self._recount_handle: asyncio.TimerHandle | None = None
        self._dirty: set[MemberKey] | None = None  # members to count again (None: all)
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
        self._joining: asyncio.Task | None = None  # this session's _after_join
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
        board.verdict_listeners.append(lambda member, state: self._own_moved(member))

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
        for handle in (self._recount_handle, self._serial_soon):
            if handle is not None:
                handle.cancel()
        for job in list(self._jobs):
            job.cancel()
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
        problems = [] if self.bus is None else self.bus.reasons()
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
        self.recount(full=True)

    def _own_moved(self, member: MemberKey) -> None:
        """Our probes moved a member: publish soon, and count that member again."""
        if self._dirty is not None:
            self._dirty.add(member)
        self._poke.set()

    def recount(self, full: bool = False) -> None:
        """Count the votes of the fresh instances into the board (or hand it back to our probes)."""
        if self._recount_handle is not None:
            self._recount_handle.cancel()
            self._recount_handle = None
        dirty, self._dirty = (None if full else self._dirty), set()
        if self.state() != JOINED:
            self.tallies = {}
            self.board.set_quorum({})
            return
        fresh = self.fresh_peers()
        sig = frozenset(r.instance for r in fresh)
        voters = [self.board.own_verdicts(), *(r.verdicts for r in fresh)]
        if dirty is None or sig != self._fresh_sig or not self.tallies:
            self._fresh_sig = sig
            self.tallies = votes.tally(self.board.members(), voters, self.fleet_conf.quorum)
        else:  # the same voters: only members whose votes moved
            known = [m for m in dirty if self.board.status(m) is not None]
            for member in known:
                self.tallies.pop(member, None)
            self.tallies.update(votes.tally(known, voters, self.fleet_conf.quorum))
        self.board.set_quorum({m: t.verdict for m, t in self.tallies.items()})

    # -- the bus ---------------------------------------------------------------------------

    def _entry(self, entry: BusEntry) -> None:
        """One admitted change in the bucket: another instance's record, or a drain record."""
        try:
            if entry.key.startswith("inst."):
                self._peer(entry)
            elif entry.key.startswith("map."):
                self._recount_soon(self.beats.chunk(entry))
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
        self._recount_soon(changed)

    def _recount_soon(self, changed: set[MemberKey] | None) -> None:
        """Votes from peers changed (None: count every member): count them once shortly, not
        once per heartbeat (many instances joining at once would cost a full count each)."""
        if changed is None:
            self._dirty = None
        elif self._dirty is not None:
            self._dirty |= changed
        if changed == set():
            return
        if self._recount_handle is None:
            self._recount_handle = asyncio.get_running_loop().call_later(
                RECOUNT_DELAY, self.recount
            )

    def _retire(self, task: asyncio.Task) -> None:
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _synced(self) -> None:
        """The bucket's contents are in: push what changed off the bus, say we joined."""
        assert self.bus is not None and self.bus.kv is not None
        held = self.book.records.items()
        self.pending |= {m for m, r in held if self._in_bucket.get(m) != r.stamp}
        await self._flush()
        self._joined.set()
        await self._publish()
        self.recount(full=True)
        log.info(
            "fleet: joined bucket %r (%d other instances)", self.fleet_conf.bucket, len(self.peers)
        )
        expected = {r.instance for r in self.fresh_peers()}
        if self._joining is not None:
            self._joining.cancel()
        self._joining = asyncio.create_task(self._after_join(expected))
        self._retire(self._joining)

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
        if self._joining is not None:  # a join the session did not live to finish: the next
            self._joining.cancel()  # session's own says joined (and counts it), not this one
            self._joining = None
        self._joined.clear()
        self.beats.outbox.reset()
        self._in_bucket.clear()
        self._session_heard.clear()
        self._floors_done = False
        self.serials.forget()
        if self._stopping:
            return
        log.warning("fleet: lost the bus; deciding from our own probes until it is back")
        self.recount(full=True)

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

    # -- serials and generations -----------------------------------------------------------

    def set_generation(self, generation: str) -> None:
        if generation != self.generation:
            self.generation = generation
            self._poke.set()
