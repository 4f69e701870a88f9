"""The NATS JetStream key-value bucket: one session at a time, rebuilt with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
from nats.js.kv import KeyValue

from geodns.config import FleetConfig

log = logging.getLogger("geodns.fleet")

Entry = KeyValue.Entry
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0
DELETED = ("DEL", "PURGE")


class Bus:
    """Connects, opens (or creates) the bucket, watches every key, and starts over whenever
    the connection drops, backing off from 0.2 s to 5 s. nats-py's own reconnection is off:
    a fresh session re-reads the whole bucket, so nothing missed while away stays missed.

    `on_entry(entry)` gets every change (deletes have `operation` DEL/PURGE); `on_synced()`
    fires once the bucket's current contents were delivered; `on_lost()` when the session ends.
    """

    def __init__(
        self,
        conf: FleetConfig,
        on_entry: Callable[[Entry], None],
        on_synced: Callable[[], Awaitable[None]],
        on_lost: Callable[[], None],
    ) -> None:
        self.conf = conf
        self.on_entry, self.on_synced, self.on_lost = on_entry, on_synced, on_lost
        self.kv: KeyValue | None = None  # set while a session is up
        self._nc: Any = None

    async def run(self) -> None:
        """Sessions forever (cancel to stop)."""
        delay = BACKOFF_FIRST
        while True:
            try:
                await self._session()
                delay = BACKOFF_FIRST  # it worked for a while: come back quickly
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("fleet bus: %s: %s", type(exc).__name__, exc)
            finally:
                await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _session(self) -> None:
        lost = asyncio.Event()

        async def gone(*_: object) -> None:
            lost.set()

        async def quiet(exc: Exception) -> None:
            log.debug("fleet bus: %s", exc)

        ping = max(1, int(self.conf.stale_after / 4))
        self._nc = await nats.connect(
            servers=list(self.conf.nats),
            allow_reconnect=False,
            connect_timeout=2,
            ping_interval=ping,
            max_outstanding_pings=2,
            disconnected_cb=gone,
            closed_cb=gone,
            error_cb=quiet,
            **self._credentials(),
        )
        js = self._nc.jetstream(timeout=2.0)
        try:
            kv = await js.key_value(self.conf.bucket)
        except nats.js.errors.BucketNotFoundError:
            kv = await js.create_key_value(bucket=self.conf.bucket, history=1)
        watcher = await kv.watchall()
        pump = asyncio.create_task(self._pump(watcher, kv))
        waiter = asyncio.create_task(lost.wait())
        try:
            await asyncio.wait({pump, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if pump.done():
                pump.result()  # raise what stopped it
        finally:
            for task in (pump, waiter):
                task.cancel()
            await asyncio.gather(pump, waiter, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(watcher.stop(), 1.0)  # its consumer's tasks too
            if self.kv is not None:
                self.kv = None
                self.on_lost()

    async def _pump(self, watcher: Any, kv: KeyValue) -> None:
        """Deliver entries; the first None marks the end of the bucket's current contents."""
        while True:
            entry = await watcher.updates(timeout=3600)
            if entry is None:
                if self.kv is None:
                    self.kv = kv
                    await self.on_synced()
                continue
            self.on_entry(entry)

    def _credentials(self) -> dict[str, Any]:
        """A `.creds` file (JWT and seed) or a file holding a token."""
        path = self.conf.credentials
        if path is None:
            return {}
        if path.endswith(".creds"):
            return {"user_credentials": path}
        return {"token": Path(path).read_text(encoding="utf-8").strip()}

    async def _close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
