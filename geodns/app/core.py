"""The composition root: builds every component from Config, runs them, reloads whole."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from geodns import config as cfg
from geodns.app.lifecycle import Starting
from geodns.app.reload import Reloading
from geodns.app.watch import Watching
from geodns.app.writes import Writing
from geodns.build import shared_limiter
from geodns.dns.stats import Stats
from geodns.ops.sources import Counters, ReloadCounts
from geodns.serve.worker import ForkState

log = logging.getLogger("geodns")


@dataclass
class App(Starting, Reloading, Watching, Writing):
    """Everything that runs, and the one place that knows all of it."""

    config: cfg.Config
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    stats: Stats = field(default_factory=Stats)
    reloads: ReloadCounts = field(default_factory=ReloadCounts)
    ready: bool = False
    handle_signals: bool = False  # the CLI owns the process; tests run apps in threads
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack, repr=False)

    async def __aenter__(self) -> App:
        """Start every part (app/lifecycle.py); a failure stops what started, then raises."""
        try:
            await self.start_parts(self._stack)
        except BaseException:
            await self._stack.aclose()
            raise
        self.ready = True
        for host, port in self.dns.bound:
            log.info("listening on %s port %d (UDP and TCP)", host, port)
        for origin, serial in self.table.serials().items():
            log.info("zone %s serial %d loaded", origin, serial)
        if not self.table.zones:
            log.warning(
                "no zone loaded from %s: not ready (/readyz 503) until one is",
                self.config.zones_dir,
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Every part stopped, newest first: the same unwinding as a failed start."""
        self.ready = False
        await self._stack.aclose()
        log.info("stopped")

    def _stop_signal(self, name: str) -> None:
        """SIGTERM/SIGINT: a graceful stop, said once (a second signal changes nothing)."""
        if not self.shutdown.is_set():
            log.info(
                "shutting down: %s received; answering the queries in flight (up to %gs)",
                name,
                self.config.dns.shutdown_grace,
            )
        self.shutdown.set()

    def _fork_state(self) -> ForkState:
        """What the next worker generation answers from: the current table, config, health."""
        board = self.board
        down, pools = board.down(), board.pool_generations()
        if self._rrl[0] != self.config.rrl:  # new settings, new accounts (rare)
            self._rrl = (self.config.rrl, shared_limiter(self.config))
        state = (board.generation, down, pools, board.steering, self._rrl[1])
        return ForkState(self.config, self.table, self.clients, *state)

    async def run(self) -> None:
        await self.shutdown.wait()

    async def counters(self) -> Counters:
        """What /metrics exports: every worker's counters, added up."""
        totals = await self.dns.refresh()
        return Counters(
            totals.stats,
            totals.geoip_hits,
            totals.geoip_misses,
            totals.tcp_open,
            totals.tcp,
            totals.cpu_seconds,
        )

    async def health_synced(self) -> bool:
        """Every process answering queries sees the board's current health (drains, tests)."""
        return await self.dns.health_synced()

    def worker_status(self) -> list[dict]:
        """Per-process facts for /api/v1/status: CPU time and queries of each worker."""
        return self.dns.describe()

    # --- reload ------------------------------------------------------------------------

    def _retire(self, future: asyncio.Future) -> None:
        """Keep a background job referenced until it is done (and cancelled on shutdown)."""
        self._background.add(future)
        future.add_done_callback(self._background.discard)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]  # geodns/app/core.py -> the checkout
