"""Zone content on the fleet bus: every instance serves the same version of every zone.

Zone documents live in their own JetStream key-value bucket, `<fleet.bucket>-zones`, one
key per zone, with `zones.history` versions kept (JetStream's own per-key history); a
version is the entry's revision, the same number on every instance. Each entry holds the
document, the serial it is served with (chosen by the writer: above every earlier one),
who wrote it, when and why, sealed like every bus entry (writer, HLC time, HMAC with
fleet.key_file: fleet/contentseal.py), so a forged, replayed or future version is refused
and counted, never served. Every instance watches the bucket and writes each zone's
current version into `state_dir/zones/` (atomically) for the app to load, so an instance
that loses the bus keeps serving its last versions, and one that starts without it serves
what it served before. Files in zones_dir only seed zones the bucket has never held.

A session of its own on the NATS servers of `fleet:` (the fleet's bus keeps its bucket
with history 1; this one needs history): connects, watches, starts over with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import nats.js.errors

from geodns.config import Config, read_fleet_key
from geodns.fleet import natsconn
from geodns.fleet.contentseal import Entry, ZoneSeal
from geodns.fleet.contentstate import Applied, LocalCopies, serial_for
from geodns.table import Table
from geodns.zones import document

log = logging.getLogger("geodns.fleet")
FIRST_CONTACT = 3.0  # how long start waits for the bucket before serving the local copies
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0
WRONG_LAST = (10071, 10164)  # JetStream: wrong last sequence (a compare-and-set refused)
_PLAIN = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")


def zone_of_key(key: str) -> str | None:
    if not key.startswith("zone."):
        return None
    rest = key[5:]
    if not rest.startswith("="):
        return rest + "."
    try:  # anyone on the bus may write any key: a bad one is not a zone, never a crash
        return bytes.fromhex(rest[1:]).decode()
    except ValueError:
        return None


def key_of(zone: str) -> str:
    """`gslb.example.com.` -> `zone.gslb.example.com`; odd names hex-encoded."""
    name = zone.rstrip(".")
    return "zone." + (name if _PLAIN.match(name) else "=" + zone.encode().hex())


class ContentSession:
    """The bus side: the bucket's newest entry per zone, kept current; seeds; writes."""

    def __init__(self, conf: Config) -> None:
        self.conf, self.fleet_conf = conf, conf.fleet
        self.bucket = f"{conf.fleet.bucket}-zones"
        self.instance = conf.instance_name()
        self.kv: Any = None  # set while a session is up and synced
        self.latest: dict[str, Entry] = {}
        secret = read_fleet_key(conf.fleet.key_file) if conf.fleet.key_file else None
        self.seal = ZoneSeal(secret, self.instance, conf.fleet.max_skew)  # see contentseal.py
        self._unsound: dict[str, int] = {}  # zone -> its last entry's revision, refused
        self.local = LocalCopies(Path(str(conf.state_dir)) / "zones")
        self.applied = Applied()
        self.on_change: Callable[[], Awaitable[bool]] | None = None  # the app's reload
        self.table: Callable[[], Table] = lambda: Table()
        self.lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    @property
    def folder(self) -> str:
        return str(self.local.folder)

    async def prepare(self) -> None:
        """Before the first table: join the bucket (a few seconds at most) and write its
        zones out; without the bus, serve the local copies (or, the first time, the seeds)."""
        self.local.open(self.conf.zones_dir)
        for zone, held in self.local.held.items():  # a replay put while we were away: refused
            self.seal.remember(key_of(zone), self.local.entry(zone, held))
        self._tasks.append(asyncio.create_task(self._run()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._synced.wait(), FIRST_CONTACT)
        if not self._synced.is_set():
            log.warning("zones: no bus within %gs; serving the last versions kept", FIRST_CONTACT)
        # the first table is built from these files: the listing shows their versions from
        # the start, not only after the apply loop's first pass (a moment, or more, later)
        self.applied.serving = dict(self.local.versions())

    def start_applying(self, reload: Callable[[], Awaitable[bool]]) -> None:
        """The app is up: from now on a new version means a reload."""
        self.on_change = reload
        self._tasks.append(asyncio.create_task(self._apply_loop()))
        self._dirty.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the session ------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                await self._session()
                delay = BACKOFF_FIRST
            except asyncio.CancelledError:
                if natsconn.stopping():
                    raise
                log.debug("zones bus: the NATS client cancelled what we awaited")
            except Exception as exc:
                log.debug("zones bus: %s: %s", type(exc).__name__, exc)
            if self.kv is not None:
                log.warning("zones: lost the bus; serving the last versions, refusing writes")
            self.kv = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _session(self) -> None:
        lost = asyncio.Event()

        async def gone(*_: object) -> None:
            lost.set()

        async def quiet(exc: Exception) -> None:
            log.debug("zones bus: %s", exc)

        nc = await nats.connect(
            servers=list(self.fleet_conf.nats),
            allow_reconnect=False,
            connect_timeout=2,
            ping_interval=max(1, int(self.fleet_conf.stale_after / 4)),
            max_outstanding_pings=2,
            disconnected_cb=gone,
            closed_cb=gone,
            error_cb=quiet,
            **self._credentials(),
        )
        try:
            js = nc.jetstream(timeout=2.0)
            try:
                kv = await js.key_value(self.bucket)
            except nats.js.errors.BucketNotFoundError:
                kv = await js.create_key_value(bucket=self.bucket, history=self.conf.zones.history)
            watcher = await kv.watchall()
            pump = asyncio.create_task(self._pump(watcher, kv, lost))
            waiter = asyncio.create_task(self._until_lost(nc, lost))
            try:
                await asyncio.wait({pump, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if pump.done() and not pump.cancelled():
                    pump.result()
            finally:
                lost.set()  # the pump stops within a second even if it misses its cancel
                for task in (pump, waiter):
                    task.cancel()
                await asyncio.wait({pump, waiter}, timeout=2.0)  # see Bus._session
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(watcher.stop(), 1.0)
        finally:
            self.kv = None
            with contextlib.suppress(Exception):
                await nc.close()

    @staticmethod
    async def _until_lost(nc: Any, lost: asyncio.Event) -> None:
        """The callbacks said so, or the client is closed without them (natsconn.closed)."""
        while not lost.is_set() and not natsconn.closed(nc):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), 0.5)

    async def _pump(self, watcher: Any, kv: Any, lost: asyncio.Event) -> None:
        """Entries as they come; the first None ends the bucket's current contents."""
        while not lost.is_set():
            try:
                entry = await watcher.updates(timeout=1.0)
            except TimeoutError:
                continue
            if lost.is_set():
                return
            if entry is None:
                if self.kv is None:
                    await self._sync(kv)
                continue
            zone = zone_of_key(entry.key)
            if zone is None or entry.operation in ("DEL", "PURGE"):
                continue
            got = self.seal.take(entry.key, entry.revision, entry.value)
            if got is None:  # forged, junk, replayed or from the future: counted, ignored
                if self.kv is None and zone not in self.latest:
                    self._unsound[zone] = entry.revision
                continue
            self._unsound.pop(zone, None)
            self.latest[zone] = got
            self._dirty.set()

    async def _sync(self, kv: Any) -> None:
        """The bucket is read: seed what it never held, write every zone out, go live."""
        for zone in sorted(set(self._unsound) - set(self.latest)):
            await self._newest_sound(kv, zone)
        for zone, text in self.local.seeds():
            if zone not in self.latest:  # never held, or nothing sound: seeded over it
                await self._seed(kv, zone, text, self._unsound.get(zone))
        self._unsound.clear()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.local.write_all, dict(self.latest), True)
        self.kv = kv
        self._synced.set()
        self._dirty.set()
        log.info("zones: joined bucket %r (%d zones)", self.bucket, len(self.latest))

    async def _newest_sound(self, kv: Any, zone: str) -> None:
        """The bucket's last entry for `zone` was refused: serve the newest sound version in
        its history (a forger cannot hide a zone from an instance that starts afresh)."""
        with contextlib.suppress(nats.js.errors.NoKeysError):
            sound = self.seal.sound(key_of(zone), await kv.history(key_of(zone)))
            if sound:
                self.seal.remember(key_of(zone), sound[-1])
                self.latest[zone] = sound[-1]
                log.warning(
                    "zones: %s: the bucket's last entry was refused; serving version "
                    "%d, the newest sound one",
                    zone,
                    sound[-1].revision,
                )

    async def _seed(self, kv: Any, zone: str, text: str, over: int | None = None) -> None:
        compiled, problems = document.check(text, zone)
        if compiled is None:
            log.error("zones: seed %s not valid, not seeded: %s", zone, problems)
            return
        served = self.local.serial_of(zone)
        serial = serial_for(compiled, served)
        record = {
            "document": document.from_text(text),
            "serial": serial,
            "who": f"seed:{self.instance}",
            "time": time.time(),
            "summary": f"seeded from {self.conf.zones_dir}",
        }
        data, at = self.seal.encode(key_of(zone), record)
        try:
            if over is None:
                revision = await kv.create(key_of(zone), data)
            else:
                revision = await kv.update(key_of(zone), data, last=over)
        except nats.js.errors.KeyWrongLastSequenceError:
            return  # another instance seeded it first: fine
        except nats.js.errors.APIError as exc:
            if exc.err_code in WRONG_LAST:
                return
            raise
        self.latest[zone] = Entry(revision, record, self.instance, at)
        log.info("zones: seeded %s from files (version %d)", zone, revision)

    # -- applying ---------------------------------------------------------------------------

    async def _apply_loop(self) -> None:
        """Write new versions out and reload, as often as they come (coalesced)."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            loop = asyncio.get_running_loop()  # checks and writes: a thread's work
            changed = await loop.run_in_executor(None, self.local.write_all, dict(self.latest))
            if changed and self.on_change is not None and not await self.on_change():
                log.error("zones: versions %s written but the reload failed", changed)
            await self.applied.reached(self.local.versions())

    def _credentials(self) -> dict[str, Any]:
        path = self.fleet_conf.credentials
        if path is None:
            return {}
        if path.endswith(".creds"):
            return {"user_credentials": path}
        return {"token": Path(path).read_text(encoding="utf-8").strip()}
