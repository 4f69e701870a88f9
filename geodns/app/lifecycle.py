"""The app's start, in order, each running part entered on one AsyncExitStack.

A part's stop goes on the stack as the part starts, so a start that fails at any step
unwinds exactly what runs, newest first (workers, health checks, fleet, HTTP, sockets), and
a normal stop is the same unwinding: one order to keep right, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from contextlib import AsyncExitStack
from dataclasses import replace

from geodns.app.http import Fronting
from geodns.build import (
    build_table,
    client_factory,
    make_handler,
    open_locator,
    shared_limiter,
    table_members,
)
from geodns.errors import GeoDNSError
from geodns.fleet.content import ContentSession
from geodns.fleet.coordinator import Fleet
from geodns.geo import compiled
from geodns.health.board import HealthBoard
from geodns.health.probes import Checker
from geodns.integrations import rfc2136
from geodns.native import udp as native_udp
from geodns.ops import limits
from geodns.serve.cpus import worker_count
from geodns.serve.supervisor import Supervisor
from geodns.steer import Steer
from geodns.zones import load

log = logging.getLogger("geodns")
SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)


class Starting(Fronting):
    """A mixin of App: its parts started in order on one stack (the methods use App's state)."""

    async def start_parts(self, stack: AsyncExitStack) -> None:
        """Build, bind, join, check, fork: every step that leaves something running puts its
        undoing on `stack` first. Answering happens in forked workers, never in this process:
        here tables are built, health checked and the API served."""
        stack.callback(self._signals_off)  # first on, so last off: a second SIGTERM is ignored
        limits.raise_open_files()  # before any socket: workers forked later inherit it
        self.fast_path = native_udp.announce(self.config)  # dns.fast_path: native or python
        self.locator = open_locator(self.config)
        self.clients = client_factory(self.config, self.locator)
        self.zone_loader = load.ZoneLoader()  # remembers each file: reloads parse only changes
        self.content = None
        if self.config.zones.source == "fleet":  # zones from the fleet bus, kept in state_dir/zones
            self.content = ContentSession(self.config)
            self.content.table = lambda: self.table
            stack.push_async_callback(self.content.stop)
            await self.content.prepare()
            self.config = replace(self.config, zones_dir=self.content.folder)
        self._build_parts()
        stack.callback(self.dns.close)
        self.dns.bind()  # bind errors fail here, at once, before anything else starts
        self._runner = await self.start_http(stack)
        log.info("instance %s", self.config.instance_name())
        stack.push_async_callback(self.fleet.stop)
        await self.fleet.start()  # joins the bus (a few seconds at most) before we answer
        self.table = self.handler.table = await self._agreed(self.table)
        native_udp.prepare(self.table, self.config)  # flattened once here: workers share its pages
        checker = Checker(self.board, instance=self.config.instance_name())
        self.checker = await stack.enter_async_context(checker)
        await self._first_round()
        stack.push_async_callback(self.steer.stop)
        await self.steer.start(self.table)  # before the fork: workers start with its state
        stack.push_async_callback(self.dns.stop_workers)
        await self.dns.__aenter__()  # forks the workers
        # Unwinding from here: not ready (/readyz 503); the workers answer what they hold, exit.
        stack.push_async_callback(self.dns.shut_down, self.config.dns.shutdown_grace)
        stack.push_async_callback(self._cancel_tasks)
        self._signals_on()
        self._hooks()

    def _build_parts(self) -> None:
        """The components, built from the config; nothing of them runs yet."""
        conf = self.config
        self.trees = compiled.TreeCache()  # compiled GeoIP trees, reused across reloads
        self.table = build_table(conf, self.zone_loader, self.locator, self.trees)
        self.board = HealthBoard()
        self.fleet = Fleet(conf, self.board)  # quorum health, drains, serials (fleet/)
        self.fleet.pools = lambda: [
            p for z in self.table.zones.values() for p in z.zone.pools.values()
        ]
        self.steer = Steer(lambda: self.config, self.board)  # capacity, measured RTTs (steer/)
        self.handler = make_handler(conf, self.table, self.clients, self.board, self.stats)
        self.workers = worker_count(conf.dns)
        self._rrl = (conf.rrl, shared_limiter(conf))  # one set of accounts for all workers
        self.dns = Supervisor(self.board, self._fork_state, self.workers, conf.dns.endpoints())
        self._reload_lock = asyncio.Lock()
        self._differ = None  # dry_run's routing diff, made at the first one
        self.zones = self._zone_service()  # the zone content API's writer (zones.source)
        self.dns.on_update = lambda request: rfc2136.apply(self.zones, self.config.updates, request)
        self._background = set()
        self._tasks = []
        self.http_bound = self.probe_bound = None

    async def _first_round(self) -> None:
        """Health checks for every member, and one round of them (bounded) before we answer."""
        members = table_members(self.table)
        self.checker.update(members)
        self._members_changed()
        timeout = first_round_timeout(members, self.checker)
        if timeout and not await self.checker.wait_first_round(timeout):
            log.warning(
                "first health round timed out after %.1fs; late members count as down", timeout
            )

    def _hooks(self) -> None:
        """The watcher, and what the fleet and the content bus call back; their tasks are
        cancelled first on the way down (_cancel_tasks)."""
        self._watch_state = self._snapshot()
        if self.config.reload.watch:
            self._tasks.append(asyncio.create_task(self._watch()))
        self._tasks.append(asyncio.create_task(self._resign()))  # DNSSEC: a new signing week
        self.fleet.on_join.append(self._rejoined)
        if self.content is not None:
            self.content.start_applying(self._content_reload)  # a new version: a reload
        self.fleet.on_serial.append(self._rejoined)  # a newer claim for our content's serial
        self.fleet.on_rtt.append(self._shared_rtt)  # RTTs POSTed to another instance

    async def _cancel_tasks(self) -> None:
        self.ready = False
        tasks = [*self._tasks, *self._background]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _signals_on(self) -> None:
        """SIGHUP reloads, SIGTERM/SIGINT stop gracefully: only where the process is ours."""
        if not self.handle_signals:
            return
        if threading.current_thread() is not threading.main_thread():
            raise GeoDNSError(
                "handle_signals needs the main thread (an App in a thread: pass False)"
            )
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._reload_soon)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop_signal, sig.name)

    def _signals_off(self) -> None:
        if self.handle_signals and threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for sig in SIGNALS:
                loop.remove_signal_handler(sig)


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
