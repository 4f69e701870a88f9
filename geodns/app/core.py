"""The composition root: builds every component from Config, runs them, reloads whole."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from geodns import config as cfg
from geodns.app.reload import Reloading
from geodns.app.watch import Watching
from geodns.build import (
    build_table,
    client_factory,
    make_handler,
    open_locator,
    shared_limiter,
    table_members,
)
from geodns.dns.stats import Stats
from geodns.fleet.content import ContentSession
from geodns.fleet.contentapi import FleetBackend
from geodns.fleet.coordinator import Fleet
from geodns.geo import compiled
from geodns.health.board import HealthBoard
from geodns.health.probes import Checker
from geodns.integrations import rfc2136
from geodns.native import udp as native_udp
from geodns.ops import limits
from geodns.ops.sources import Counters, ReloadCounts
from geodns.ops.zonefiles import FilesBackend
from geodns.ops.zonewrite import ZoneService
from geodns.serve.binding import bind_error
from geodns.serve.cpus import worker_count
from geodns.serve.supervisor import Supervisor
from geodns.serve.worker import ForkState
from geodns.steer import Steer
from geodns.zonediff import Differ
from geodns.zones import load

log = logging.getLogger("geodns")


@dataclass
class App(Reloading, Watching):
    """Everything that runs, and the one place that knows all of it."""

    config: cfg.Config
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    stats: Stats = field(default_factory=Stats)
    reloads: ReloadCounts = field(default_factory=ReloadCounts)
    ready: bool = False
    handle_signals: bool = False  # the CLI owns the process; tests run apps in threads

    async def __aenter__(self) -> App:
        conf = self.config
        limits.raise_open_files()  # before any socket: workers forked later inherit it
        self.fast_path = native_udp.announce(conf)  # dns.fast_path: native or python
        self.locator = open_locator(conf)
        self.clients = client_factory(conf, self.locator)
        self.zone_loader = load.ZoneLoader()  # remembers each file: reloads parse only changes
        self.content = ContentSession(conf) if conf.zones.source == "fleet" else None
        if self.content is not None:  # zones from the fleet bus, kept in state_dir/zones
            self.content.table = lambda: self.table
            await self.content.prepare()
            conf = self.config = replace(conf, zones_dir=self.content.folder)
        self.trees = compiled.TreeCache()  # compiled GeoIP trees, reused across reloads
        self.table = build_table(conf, self.zone_loader, self.locator, self.trees)
        self.board = HealthBoard()
        self.fleet = Fleet(conf, self.board)  # quorum health, drains, serials (fleet/)
        self.fleet.pools = lambda: [
            p for z in self.table.zones.values() for p in z.zone.pools.values()
        ]
        self.steer = Steer(lambda: self.config, self.board)  # capacity, measured RTTs (steer/)
        self.handler = make_handler(conf, self.table, self.clients, self.board, self.stats)
        # Answering happens in forked worker processes, never in this one: here the tables
        # are built (a reload of a million names holds this process's GIL, not theirs),
        # health is checked and the API served. The handler here serves explain.
        self.workers = worker_count(conf.dns)
        self._rrl = (conf.rrl, shared_limiter(conf))  # one set of accounts for all workers
        self.dns = Supervisor(self.board, self._fork_state, self.workers, conf.dns.endpoints())
        self._reload_lock = asyncio.Lock()
        self._differ: Differ | None = None  # dry_run's routing diff, made at the first one
        self.zones = self._zone_service()  # the zone content API's writer (zones.source)
        self.dns.on_update = lambda request: rfc2136.apply(self.zones, self.config.updates, request)
        self._background: set[asyncio.Task] = set()
        self.dns.bind()  # bind errors fail here, at once, before anything else starts
        self.http_bound: tuple[str, int] | None = None
        self.probe_bound: tuple[str, int] | None = None
        self._runner = await self._start_http()
        log.info("instance %s", conf.instance_name())
        await self.fleet.start()  # joins the bus (a few seconds at most) before we answer
        self.table = self.handler.table = await self._agreed(self.table)
        native_udp.prepare(self.table, conf)  # flattened once here: workers share its pages
        self.checker = await Checker(self.board, instance=conf.instance_name()).__aenter__()
        members = table_members(self.table)
        self.checker.update(members)
        self._members_changed()
        timeout = first_round_timeout(members, self.checker)
        if timeout and not await self.checker.wait_first_round(timeout):
            log.warning(
                "first health round timed out after %.1fs; late members count as down", timeout
            )
        await self.steer.start(self.table)  # before the fork: workers start with its state
        await self.dns.__aenter__()
        self._watch_state = self._snapshot()
        self._tasks = [asyncio.create_task(self._watch())] if conf.reload.watch else []
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, self._reload_soon)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop_signal, sig.name)
        self.fleet.on_join.append(self._rejoined)
        if self.content is not None:
            self.content.start_applying(self._content_reload)  # a new version: a reload
        self.fleet.on_serial.append(self._rejoined)  # a newer claim for our content's serial
        self.fleet.on_rtt.append(self._shared_rtt)  # RTTs POSTed to another instance
        self.ready = True
        for host, port in self.dns.bound:
            log.info("listening on %s port %d (UDP and TCP)", host, port)
        for origin, serial in self.table.serials().items():
            log.info("zone %s serial %d loaded", origin, serial)
        if not self.table.zones:
            log.warning(
                "no zone loaded from %s: not ready (/readyz 503) until one is", conf.zones_dir
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.ready = False
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for task in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Not ready from here (/readyz 503); the workers answer what they hold, then exit.
        await self.dns.shut_down(self.config.dns.shutdown_grace)
        await self.dns.__aexit__(None, None, None)
        await self.checker.__aexit__(None, None, None)
        await self.steer.stop()
        await self.fleet.stop()
        if self.content is not None:
            await self.content.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
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

    async def _start_http(self):
        """The HTTP API on its own socket; bound now so a busy port fails loudly too.

        Behind a connection cap and header/body/idle deadlines (ops/httpfront.py), so
        clients that connect and dawdle cannot hold this process's descriptors.
        """
        listen, probes = self.config.http.listen, self.config.http.probe_listen
        if listen is None:  # the probes may still listen alone
            return None if probes is None else await self._start_probes(probes)
        from geodns.ops import api, httpfront, zonesapi

        host, port = cfg.parse_hostport(listen, 8053)
        token = api.read_token(self.config.http.token_file)
        http = self.config.http
        tokens = zonesapi.Tokens.from_config(http)
        zones = partial(zonesapi.mount, self.zones, tokens, http.max_body)
        front = httpfront.HttpFront(api.build(self, token, http.max_body, [zones]), http)
        try:
            self.http_bound = await front.start(host, port)
        except OSError as exc:  # the address, the protocol and a remedy, as for DNS
            raise bind_error(exc, "HTTP", host, port) from exc
        log.info("HTTP API on http://%s", cfg.format_hostport(*self.http_bound))
        if probes is not None:
            front.probes = await self._start_probes(probes)
        return front

    async def _start_probes(self, listen: str):
        """/healthz and /readyz alone on http.probe_listen (ops/probefront.py)."""
        from geodns.ops import probefront

        host, port = cfg.parse_hostport(listen, 8053)
        front = probefront.probe_front(self, self.config.http)
        try:
            self.probe_bound = await front.start(host, port)
        except OSError as exc:
            raise bind_error(exc, "HTTP", host, port, key="http.probe_listen") from exc
        log.info("HTTP probes on http://%s", cfg.format_hostport(*self.probe_bound))
        return front

    def _zone_service(self) -> ZoneService:
        """Zone writes go to files (zones_dir, reloaded here) or to the fleet's bus."""
        conf = self.config
        if self.content is not None:
            return ZoneService(FleetBackend(self.content), self._preview, conf.dnssec.key_dir)
        backend = FilesBackend(
            conf.zones_dir,
            conf.zones.history,
            self._reload_lock,
            self._written_reload,
            lambda: self.table,
            self.zone_loader.agreed,
        )
        return ZoneService(backend, self._preview, conf.dnssec.key_dir)

    def _preview(self, old: dict | None, new: dict | None) -> dict:
        """dry_run's record and routing diff (geodns.zonediff, in a thread) against the GeoIP
        data served now and the current health; the walked databases (~1 s to build) are
        kept for the next dry run until the GeoIP data changes."""
        if self._differ is None:
            self._differ = Differ(self.locator)
        return self._differ(old, new, self.board)

    # --- reload ------------------------------------------------------------------------

    def _retire(self, future: asyncio.Future) -> None:
        """Keep a background job referenced until it is done (and cancelled on shutdown)."""
        self._background.add(future)
        future.add_done_callback(self._background.discard)


def first_round_timeout(members: dict, checker: Checker) -> float:
    """Long enough for every member to get a probe slot and finish, slow ones included.

    Probes run at most `max_concurrent` at a time, so with many hanging endpoints the
    round takes several timeouts; capped so a huge zone still starts within a minute.
    """
    specs = [s for s in members.values() if s is not None]
    if not specs:
        return 0.0
    waves = 1 + len(specs) // max(checker.max_concurrent, 1)
    return min(max(s.timeout for s in specs) * waves + 1.0, 60.0)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]  # geodns/app/core.py -> the checkout
