"""What the HTTP API and the metrics read: a typed seam instead of the App object itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from geodns.dns.handler import Handler
from geodns.dns.stats import Stats
from geodns.fleet.coordinator import Fleet
from geodns.geo.locator import Locator
from geodns.health.board import HealthBoard
from geodns.steer import Steer
from geodns.table import Table


@dataclass(frozen=True, slots=True)
class Counters:
    """One process's counters, or every worker's added up: what a scrape exports."""

    stats: Stats
    geoip_hits: int
    geoip_misses: int
    tcp_open: int
    tcp: dict[str, int] = field(default_factory=dict)  # TcpLimits' counters (serve/channel.py)
    cpu_seconds: float = 0.0  # CPU time of the worker processes, exited ones included


@dataclass
class ReloadCounts:
    ok: int = 0
    error: int = 0
    removed: int = 0  # zones a reload dropped (their file gone or renamed to another zone)
    # The last reload's result: an alert on it fires for as long as the broken file is
    # there (a counter's increase forgets a failure after its window).
    last_ok: bool = True

    def failed(self) -> None:
        self.error += 1
        self.last_ok = False

    def succeeded(self) -> None:
        self.ok += 1
        self.last_ok = True


class Sources(Protocol):
    """The running server as the operating surfaces see it; `app.App` is one."""

    ready: bool
    board: HealthBoard
    fleet: Fleet
    steer: Steer  # capacity poller and measured RTTs (the RTT API posts to it)
    reloads: ReloadCounts

    @property
    def table(self) -> Table: ...

    @property
    def handler(self) -> Handler: ...

    @property
    def locator(self) -> Locator: ...

    async def counters(self) -> Counters: ...

    async def health_synced(self) -> bool: ...

    def worker_status(self) -> list[dict[str, Any]]: ...
