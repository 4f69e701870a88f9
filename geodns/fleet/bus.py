"""The NATS JetStream key-value bucket: one signed, checked session at a time, with backoff.

Public API (also for other modules on the bus, e.g. zone documents):
`Bus.put(key, payload) -> revision` seals (geodns/fleet/seal.py) and writes;
`Bus.subscribe(prefix, callback)` gets every admitted `BusEntry` under a key prefix;
`Bus.kv` is the bucket while a session is up (None otherwise); `Bus.problem` says why not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
import nats.js.errors
from nats.js.kv import KeyValue

from geodns.config import FleetConfig, read_fleet_key
from geodns.fleet import natsconn
from geodns.fleet.seal import Guard, Hlc, Rejected, seal, unseal

log = logging.getLogger("geodns.fleet")

Entry = KeyValue.Entry
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0
DELETED = ("DEL", "PURGE")
SAY_AGAIN = 60.0  # an unchanged problem is logged again after this long
SYNC_WAIT = 10.0  # a session whose watch has not delivered the bucket by then starts over
STOP_WAIT = 2.0  # how long an ending session waits for its tasks


@dataclass(frozen=True, slots=True)
class BusEntry:
    """One admitted change: the payload without its envelope (None for a delete), who wrote
    it and when (HLC, see seal.py), and whether it arrived live (after the bucket's contents
    were read) so that its arrival time is now."""

    key: str
    value: bytes | None
    operation: str | None
    revision: int
    writer: str = ""
    at: int = 0
    live: bool = True

    @property
    def deleted(self) -> bool:
        return self.operation in DELETED


class Bus:
    """Connects, opens (or creates) the bucket, watches every key, and starts over whenever
    the connection drops, backing off from 0.2 s to 5 s. nats-py's own reconnection is off:
    a fresh session re-reads the whole bucket, so nothing missed while away stays missed.

    `on_entry(entry)` gets every admitted change (deletes have `operation` DEL/PURGE and no
    writer: only what may safely follow an unsigned delete should act on one); `on_synced()`
    fires once the bucket's current contents were delivered; `on_lost()` when the session ends.
    """

    def __init__(
        self,
        conf: FleetConfig,
        on_entry: Callable[[BusEntry], None],
        on_synced: Callable[[], Awaitable[None]],
        on_lost: Callable[[], None],
        instance: str = "",
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.conf, self.instance = conf, instance
        self.on_entry, self.on_synced, self.on_lost = on_entry, on_synced, on_lost
        self.secret = read_fleet_key(conf.key_file) if conf.key_file else None
        self.hlc, self.guard = Hlc(wall), Guard(conf.max_skew, wall)
        self.kv: KeyValue | None = None  # set while a session is up
        self.problem: str | None = None  # why we are not (or not fully) on the bus
        self.warnings: list[str] = []  # lasting configuration trouble (replicas), for status
        self._subs: list[tuple[str, Callable[[BusEntry], None]]] = []
        self.on_replay: list[Callable[[str], None]] = []  # key: the bucket holds an older entry
        self._nc: Any = None
        self._said: tuple[str, float] = ("", 0.0)
        self._error: tuple[str, float] = ("", float("-inf"))  # the last ERROR-level problem
        self._end: asyncio.Event | None = None
        self._last_error: Exception | None = None
        self._unseen: tuple[int, float] | None = None  # our oldest write not yet watched back
        self._watched = 0  # the highest revision the watcher delivered this session
        if self.secret is None:
            log.warning(
                "fleet: no fleet.key_file: bus entries are NOT signed; anyone who can write to "
                "bucket %r can forge drains, votes, serials and zone documents",
                conf.bucket,
            )
        if conf.replicas == 1:
            log.warning(
                "fleet: replicas 1: the NATS node holding bucket %r is a single point "
                "of failure for drains and serials",
                conf.bucket,
            )

    # -- public --------------------------------------------------------------------------

    def subscribe(self, prefix: str, callback: Callable[[BusEntry], None]) -> None:
        """Also hand admitted entries whose key starts with `prefix` to `callback`."""
        self._subs.append((prefix, callback))

    async def put(self, key: str, value: bytes) -> int:
        """Write `value` under `key`, sealed with our name and the HLC time; the revision.
        ConnectionError off the bus; a lost bucket ends the session (it is made again)."""
        kv = self.kv
        if kv is None:
            raise ConnectionError("not on the bus")
        data = seal(self.secret, key, value, self.instance, self.hlc.now())
        try:
            with natsconn.closed_is_lost("a write"):
                revision = await kv.put(key, data)
            if self._unseen is None:
                self._unseen = (revision, time.monotonic())
            return revision
        except nats.errors.MaxPayloadError as exc:
            self.trouble(f"entry {key} of {len(data)} bytes is over the payload limit", "error")
            raise ConnectionError(str(exc)) from exc
        except (nats.js.errors.NotFoundError, nats.js.errors.NoStreamResponseError) as exc:
            await self._bucket_gone(kv)
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc

    async def _bucket_gone(self, kv: KeyValue) -> None:
        """A write found no stream: a replicated one electing a leader (wait), or a bucket
        that was deleted (end the session: the next one makes it again)."""
        try:
            await kv.status()
        except nats.js.errors.NotFoundError:
            self.trouble(f"bucket {self.conf.bucket!r} lost: it will be created again", "error")
            if self._end is not None:
                self._end.set()
        except Exception as exc:
            self.trouble(f"bucket {self.conf.bucket!r} not answering (election?): {exc}")

    async def purge(self, pattern: str, below: int) -> None:
        """Remove the entries whose key matches `pattern` (`>` and `*` allowed) and whose
        revision is below `below` from the bucket's stream, leaving no delete marker (the
        NATS user needs $JS.API.STREAM.PURGE.KV_<bucket>)."""
        if self.kv is None or self._nc is None:
            raise ConnectionError("not on the bus")
        subject = f"$KV.{self.conf.bucket}.{pattern}"
        with natsconn.closed_is_lost("a purge"):
            await self._nc.jetstream().purge_stream(f"KV_{self.conf.bucket}", below, subject)

    async def delete(self, key: str) -> None:
        if self.kv is None:
            raise ConnectionError("not on the bus")
        with natsconn.closed_is_lost("a delete"):
            await self.kv.delete(key)

    def reasons(self) -> list[str]:
        """For status: why we are off the bus, a refusal of the last minute (a payload over
        the limit, say) even while on it, and lasting configuration trouble."""
        out = []
        if self.kv is None and self.problem:
            out.append(self.problem)
        elif self._error[0] and time.monotonic() - self._error[1] < SAY_AGAIN:
            out.append(self._error[0])
        return [*out, *self.warnings]

    def trouble(self, what: str, level: str = "warning") -> None:
        """A problem with the bus: shown in status, logged when new or once a minute."""
        now = time.monotonic()
        if level == "error":
            self._error = (what, now)
        elif now - self._error[1] < SAY_AGAIN:
            what = self._error[0]  # a refusal stays the reason shown over "unreachable"
        self.problem = what
        if self._said[0] != what or now - self._said[1] >= SAY_AGAIN:
            self._said = (what, now)
            getattr(log, level)("fleet bus: %s", what)

    # -- sessions ------------------------------------------------------------------------

    async def run(self) -> None:
        """Sessions forever (cancel to stop)."""
        delay = BACKOFF_FIRST
        while True:
            try:
                await self._session()
                delay = BACKOFF_FIRST  # it worked for a while: come back quickly
            except asyncio.CancelledError:
                if natsconn.stopping():
                    raise
                self.trouble("connection lost (the NATS client cancelled what we awaited)")
            except Exception as exc:
                words = natsconn.describe(exc, self._last_error)
                self.trouble(words, natsconn.level(words))
            finally:
                await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _session(self) -> None:
        lost = self._end = asyncio.Event()
        self._last_error: Exception | None = None

        async def gone(*_: object) -> None:
            lost.set()

        async def noted(exc: Exception) -> None:
            self._last_error = exc
            log.debug("fleet bus: %s", exc)

        self._nc = await asyncio.wait_for(natsconn.connect(self.conf, gone, noted), SYNC_WAIT)
        js = self._nc.jetstream(timeout=2.0)
        kv = await asyncio.wait_for(natsconn.open_bucket(js, self.conf, self.warnings), SYNC_WAIT)
        watcher = await asyncio.wait_for(kv.watchall(), SYNC_WAIT)
        self._unseen, self._watched = None, 0
        pump = asyncio.create_task(self._pump(watcher, kv, lost))
        waiter = asyncio.create_task(lost.wait())
        dog = asyncio.create_task(self._watchdog(lost))
        try:
            await asyncio.wait({pump, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if pump.done() and not pump.cancelled():
                pump.result()  # raise what stopped it
            elif pump.done():
                self.trouble("connection lost (the watch was cancelled under us)")
            elif self._last_error is not None:
                self.trouble(f"connection lost: {self._last_error}")
            else:
                self.trouble("connection lost")
        finally:
            lost.set()  # the pump stops within a second even if it misses its cancel
            for task in (pump, waiter, dog):
                task.cancel()
            # bounded: Python 3.11's wait_for can swallow a cancel whose inner future
            # completes at the same moment (seen: a session stuck here, `degraded` for good)
            await asyncio.wait({pump, waiter, dog}, timeout=STOP_WAIT)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(watcher.stop(), 1.0)  # its consumer's tasks too
            if self.kv is not None:
                self.kv = None
                self.on_lost()

    async def _pump(self, watcher: Any, kv: KeyValue, lost: asyncio.Event) -> None:
        """Deliver entries; the first None marks the end of the bucket's current contents.
        Looks at `lost` every second: a session that ended is never joined nor fed."""
        while not lost.is_set():
            try:
                entry = await watcher.updates(timeout=1.0)
            except TimeoutError:
                continue
            if lost.is_set():
                return
            if entry is None:
                if self.kv is None:
                    self.kv, self.problem, self._error = kv, None, ("", float("-inf"))
                    log.info("fleet bus: on bucket %r", self.conf.bucket)
                    await self.on_synced()
                continue
            self._watched = max(self._watched, entry.revision or 0)
            if self._unseen is not None and self._watched >= self._unseen[0]:
                self._unseen = None
            admitted = self.admit(entry, live=self.kv is not None)
            if admitted is not None:
                self.on_entry(admitted)
                for prefix, callback in self._subs:
                    if admitted.key.startswith(prefix):
                        try:
                            callback(admitted)
                        except Exception as exc:  # one listener's bug never stops the watch
                            self.guard.count(admitted.key, Rejected("malformed", repr(exc)))

    async def _watchdog(self, lost: asyncio.Event) -> None:
        """A write of ours that the watcher does not deliver back means the watch died (its
        consumer lived on a NATS node that went away), and a watch that never finishes
        delivering the bucket's contents never lets us join: either way, start over. So does
        a connection nats-py closed without calling our callbacks (natsconn.closed)."""
        stall = max(2.0, self.conf.stale_after / 2)
        began = time.monotonic()
        while not lost.is_set():
            await asyncio.sleep(0.5)
            if natsconn.closed(self._nc):
                self.trouble("connection lost (closed without a word from the NATS client)")
                lost.set()
            if self.kv is None and time.monotonic() - began > SYNC_WAIT:
                self.trouble(f"the bucket's contents did not arrive within {SYNC_WAIT:g}s")
                lost.set()
            if self._unseen is not None and time.monotonic() - self._unseen[1] > stall:
                self.trouble(
                    f"the watch stopped delivering (no echo of revision "
                    f"{self._unseen[0]} in {stall:g}s): starting over"
                )
                lost.set()

    def admit(self, entry: Entry, live: bool) -> BusEntry | None:
        """The entry unsealed and checked (MAC, writer time, replay), or None (counted)."""
        revision = entry.revision or 0
        if entry.operation in DELETED:
            return BusEntry(entry.key, None, entry.operation, revision, live=live)
        try:
            sealed = unseal(self.secret, entry.key, entry.value)
            self.guard.admit(entry.key, sealed)
        except Rejected as exc:
            self.guard.count(entry.key, exc)
            if exc.reason == "replay":
                for callback in self.on_replay:
                    callback(entry.key)  # whoever holds the newer one may write it back
            return None
        self.hlc.observe(sealed.at)
        return BusEntry(
            entry.key, sealed.value, entry.operation, revision, sealed.writer, sealed.at, live
        )

    async def _close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
