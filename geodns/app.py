"""The composition root: builds every component from Config, runs them, reloads whole."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from geodns import config as cfg
from geodns.build import (
    build_table,
    client_factory,
    compile_geoip,
    make_handler,
    open_locator,
    shared_limiter,
    table_members,
)
from geodns.dns.stats import Stats
from geodns.dnssec import zone as dnssec_zone
from geodns.errors import GeoDNSError, GeoIPError, ZoneError
from geodns.fleet.content import ContentSession
from geodns.fleet.contentapi import FleetBackend
from geodns.fleet.coordinator import Fleet
from geodns.fleet.votes import generation
from geodns.geo import compiled
from geodns.health.board import HealthBoard
from geodns.health.probes import Checker
from geodns.integrations import rfc2136
from geodns.native import udp as native_udp
from geodns.ops import limits, logs
from geodns.ops.reloadlog import reload_line
from geodns.ops.sources import Counters, ReloadCounts
from geodns.ops.zonefiles import FilesBackend
from geodns.ops.zonewrite import ZoneService
from geodns.serve.binding import bind_error
from geodns.serve.cpus import worker_count
from geodns.serve.supervisor import Supervisor
from geodns.serve.worker import ForkState
from geodns.steer import Steer
from geodns.table import Table, dismantle
from geodns.zonediff import Differ
from geodns.zones import load

log = logging.getLogger("geodns")
AGREE_ROUNDS = 5  # serial agreements in one reload while files keep changing under it


@dataclass
class App:
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

    async def _written_reload(self) -> bool:
        """A reload for files a zone write just replaced (the reload lock held): the
        watcher's snapshot is taken again, so it does not reload a second time for them
        (before the reload: a file changed by hand meanwhile is still seen as changed)."""
        self._watch_state = self._snapshot()
        return await self._reload()

    async def _content_reload(self) -> bool:
        async with self._reload_lock:
            return await self._written_reload()

    def _preview(self, old: dict | None, new: dict | None) -> dict:
        """dry_run's record and routing diff (geodns.zonediff, in a thread) against the GeoIP
        data served now and the current health; the walked databases (~1 s to build) are
        kept for the next dry run until the GeoIP data changes."""
        if self._differ is None:
            self._differ = Differ(self.locator)
        return self._differ(old, new, self.board)

    # --- reload ------------------------------------------------------------------------

    def _reload_soon(self) -> None:
        """SIGHUP: zones and config, then GeoIP files the operator says are complete."""
        self._retire(asyncio.ensure_future(self.reload()))
        self._retire(asyncio.ensure_future(self.reload_geoip(settled=True)))

    def _retire(self, future: asyncio.Future) -> None:
        """Keep a background job referenced until it is done (and cancelled on shutdown)."""
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    async def reload(self) -> bool:
        """Re-read the config (if any), load and compile beside the running table, swap.

        The load and compile run in a thread, so answering goes on meanwhile; a failure of
        any file leaves everything serving as it was and says why. With several workers
        it returns once every worker answers from the new table.
        """
        async with self._reload_lock:
            return await self._reload()

    async def _reload(self) -> bool:
        if not self._reload_config():
            self.reloads.failed()
            return False
        previous = {zt.origin: zt.zone for zt in self.table.zones.values()}
        loop = asyncio.get_running_loop()
        try:
            table = await loop.run_in_executor(
                None, build_table, self.config, self.zone_loader, self.locator, self.trees
            )
        except ZoneError as exc:
            self.reloads.failed()
            for problem in exc.problems:
                log.error("reload failed: %s", problem)
            log.error("reload failed: still serving the previous zones")
            return False
        except GeoDNSError as exc:
            self.reloads.failed()
            log.error("reload failed: %s", exc)
            return False
        table = await self._agreed(table)
        await loop.run_in_executor(None, native_udp.prepare, table, self.config)
        old, self.table = self.table, table
        self.handler.table = table
        self.checker.update(table_members(table))
        self._members_changed()
        self.steer.table_changed(table)
        await self._publish()
        # Freed in small steps in a thread: dropping a big table at once stalls answering.
        self._retire(loop.run_in_executor(None, dismantle, old))
        self.reloads.succeeded()
        for origin, zt in table.zones.items():
            old = previous.get(origin)
            if old is None or old.serial != zt.zone.serial:
                log.info("zone %s serial %d loaded", zt.zone.origin_text, zt.zone.serial)
        self._note_removed(previous)
        current = {origin: zt.zone for origin, zt in table.zones.items()}
        log.info("%s", reload_line(previous, current, self.fleet.generation))
        return True

    def _note_removed(self, previous: dict) -> None:
        """A zone the reload dropped is said and counted: its names are REFUSED from now on."""
        gone = [zone for origin, zone in previous.items() if origin not in self.table.zones]
        for zone in gone:
            why = "gone" if not os.path.exists(zone.source) else "no longer defines it"
            log.warning("zone %s removed (file %s %s)", zone.origin_text, zone.source, why)
        self.reloads.removed += len(gone)
        if gone and not self.table.zones:
            log.warning("no zone left in %s: not ready (/readyz 503)", self.config.zones_dir)
        elif previous == {} and self.table.zones:
            log.info("zones loaded: ready")

    async def _agreed(self, table: Table) -> Table:
        """With a fleet: the serials it agreed on for `serial: auto` content; the table is
        compiled again (no unchanged file re-read) only when one differs from the table's.
        A file may change under that compile: its new content is agreed in turn, never
        served with a serial remembered from an earlier round."""
        loop = asyncio.get_running_loop()
        for _ in range(AGREE_ROUNDS):
            zones = [zt.zone for zt in table.zones.values()]
            agreed = await self.fleet.agree_serials(zones)
            self.zone_loader.agreed.update(agreed)
            if all(
                agreed.get((z.origin_text, z.content_hash), z.serial) == z.serial for z in zones
            ):
                return table
            table = await loop.run_in_executor(
                None, build_table, self.config, self.zone_loader, self.locator, self.trees
            )
        return table

    def _members_changed(self) -> None:
        """The fleet re-applies drains and votes to the reconciled board; our generation."""
        self.fleet.members_changed()
        conf, zones = self.config, [zt.zone for zt in self.table.zones.values()]
        settings = (conf.ecs, conf.dns.max_udp_payload, conf.rrl, self.locator.build_epoch)
        self.fleet.set_generation(generation(settings, zones))

    def _shared_rtt(self, zone: str, items: object) -> None:
        found = [zt.zone for zt in self.table.zones.values() if zt.zone.origin_text == zone]
        if found:
            self.steer.rtt.post(zone, items, found[0].pools)

    def _rejoined(self) -> None:
        """Back on the bus (or a claim moved a serial): agree the serials of what we serve;
        only when one moved is the table built again, so a rejoin reloads nothing unchanged."""
        self._retire(asyncio.ensure_future(self._reagree()))

    async def _reagree(self) -> None:
        zones = [zt.zone for zt in self.table.zones.values()]
        agreed = await self.fleet.agree_serials(zones)
        if any(agreed.get((z.origin_text, z.content_hash), z.serial) != z.serial for z in zones):
            await self.reload()

    async def _publish(self) -> None:
        """Worker processes get the current table and settings (a new generation)."""
        await self.dns.publish()

    def _reload_config(self) -> bool:
        """Apply what can change live; settings that need a restart are logged, not half-applied."""
        if self.config.source is None:
            return True
        try:
            new = cfg.load(self.config.source)
        except GeoDNSError as exc:
            log.error("reload failed: %s", exc)
            return False
        old = self.config
        for key in ("dns", "http", "fleet", "instance", "state_dir"):
            if getattr(new, key) != getattr(old, key):
                log.warning("config: %s settings changed; they take effect after a restart", key)
        if (new.geoip.city, new.geoip.asn) != (old.geoip.city, old.geoip.asn):
            try:
                self.locator = open_locator(new)
            except GeoIPError as exc:
                log.error("reload failed: %s", exc)
                return False
        self.locator.accept(new.geoip.accept_shrink)  # a refused file may be taken now
        # Settings that need a restart stay as they were; the rest (rrl, cookies...) are new.
        live = replace(new, dns=old.dns, http=old.http, fleet=old.fleet)
        live = replace(live, instance=old.instance, state_dir=old.state_dir)
        if self.content is not None:  # fleet content: still loaded from state_dir/zones
            live = replace(live, zones_dir=old.zones_dir, zones=old.zones)
        self.config = live
        logs.setup(new.log.level, new.log.format)
        self.handler.ecs_enabled = new.ecs.enabled
        self.handler.query_sample = new.log.query_sample if new.log.queries else 0.0
        if (new.geoip, new.ecs) != (old.geoip, old.ecs):
            self.clients_changed()  # only then: warm client caches survive a zone reload
        return True

    async def reload_geoip(self, settled: bool = False) -> bool:
        """Swap in GeoIP files that changed and check out (Locator.reload_if_changed logs
        each reload and refusal); a new worker generation then answers from them."""
        async with self._reload_lock:
            if not self.locator.reload_if_changed(settled):
                return False
            loop = asyncio.get_running_loop()  # the GeoIP compile: seconds, off the loop
            ranges = await loop.run_in_executor(
                None, compile_geoip, self.table, self.locator, self.trees
            )
            compiled.install(self.table, ranges)
            self.clients_changed()
            await self._publish()
            return True

    def clients_changed(self) -> None:
        """New GeoIP data: cached clients hold old facts, so start afresh."""
        self.clients = client_factory(self.config, self.locator)
        self._differ = None
        self.handler.clients = self.clients
        self.handler.clear_caches()

    def _snapshot(self) -> dict[str, tuple[float, int]]:
        paths: list[str] = []
        with contextlib.suppress(OSError):
            paths = load.zone_files(self.config.zones_dir)
        snap = {}
        signers = _signers(self.table)
        for path in [
            *paths,
            *dnssec_zone.key_files(signers),
            self.config.zones_dir,
            *([self.config.source] if self.config.source else []),
        ]:
            with contextlib.suppress(OSError):
                st = os.stat(path)
                snap[path] = (st.st_mtime, st.st_size)
        return snap

    def _key_event_due(self) -> bool:
        """A key's Publish/Activate/Inactive/Delete time has passed since the table was
        built: the DNSKEY set and the signing keys change, so rebuild (rollovers)."""
        signers = _signers(self.table)
        if not signers:
            return False
        due = dnssec_zone.next_key_event(signers, signers[0].built)
        return due is not None and due <= time.time()

    async def _watch(self) -> None:
        """Poll zone files (no extra dependency, works on every filesystem and in containers).

        The locator looks at the GeoIP files itself at every poll: a changed one is read once
        it held still between two looks."""
        while True:
            await asyncio.sleep(self.config.reload.poll_interval)
            snap = self._snapshot()
            if snap != self._watch_state:
                self._watch_state = snap
                log.info("zone files changed: reloading")
                await self.reload()
            elif self._key_event_due():
                log.info("a DNSSEC key timing event is due: reloading")
                await self.reload()
            await self.reload_geoip()


def _signers(table: Table) -> list:
    return [zt.signer for zt in table.zones.values() if zt.signer is not None]


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
    return Path(__file__).resolve().parent.parent
