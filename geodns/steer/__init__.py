"""Steering beyond up/down: pool capacity from Prometheus, measured RTTs from probes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from geodns.config import Config
from geodns.health.board import HealthBoard
from geodns.steer.capacity import CapacityPoller
from geodns.steer.rtt import RttStore

__all__ = ["CapacityPoller", "RttStore", "Steer"]


class Steer:
    """The capacity poller and the RTT store, as the app runs them: started before the
    workers fork (they start with the factors and tables), told of every new table."""

    def __init__(self, config: Callable[[], Config], board: HealthBoard) -> None:
        self.config = config
        self.capacity = CapacityPoller(board, lambda: config().prometheus)
        self.rtt = RttStore(board, lambda: config().rtt, config().state_dir)
        self._expiry: asyncio.Task | None = None

    async def start(self, table: Any) -> None:
        self.rtt.load()
        self.table_changed(table)
        await self.capacity.start()
        self._expiry = asyncio.ensure_future(self._expire())

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        await self.capacity.stop()

    def table_changed(self, table: Any) -> None:
        """The pools with `capacity:` of the table now served (zones come and go)."""
        self.capacity.set_pools(
            {
                (pool.zone, pool.name): pool.capacity
                for zt in table.zones.values()
                for pool in zt.zone.pools.values()
                if pool.capacity is not None
            }
        )

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(min(max(self.config().rtt.expire_after / 10, 0.05), 60.0))
            self.rtt.expire()
