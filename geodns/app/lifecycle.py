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
from typing import Any

from geodns.app.http import start_http
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

log = logging.getLogger("geodns")  # `app: Any` below is core.App (which imports this module)
SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)


async def start(app: Any, stack: AsyncExitStack) -> None:
    """Build, bind, join, check, fork: every step that leaves something running puts its
    undoing on `stack` first. Answering happens in forked workers, never in this process:
    here tables are built, health checked and the API served."""
    stack.callback(_signals_off, app)  # first on, so last off: a second SIGTERM is ignored
    limits.raise_open_files()  # before any socket: workers forked later inherit it
    app.fast_path = native_udp.announce(app.config)  # dns.fast_path: native or python
    app.locator = open_locator(app.config)
    app.clients = client_factory(app.config, app.locator)
    app.zone_loader = load.ZoneLoader()  # remembers each file: reloads parse only changes
    app.content = None
    if app.config.zones.source == "fleet":  # zones from the fleet bus, kept in state_dir/zones
        app.content = ContentSession(app.config)
        app.content.table = lambda: app.table
        stack.push_async_callback(app.content.stop)
        await app.content.prepare()
        app.config = replace(app.config, zones_dir=app.content.folder)
    _build(app)
    stack.callback(app.dns.close)
    app.dns.bind()  # bind errors fail here, at once, before anything else starts
    app._runner = await start_http(app, stack)
    log.info("instance %s", app.config.instance_name())
    stack.push_async_callback(app.fleet.stop)
    await app.fleet.start()  # joins the bus (a few seconds at most) before we answer
    app.table = app.handler.table = await app._agreed(app.table)
    native_udp.prepare(app.table, app.config)  # flattened once here: workers share its pages
    checker = Checker(app.board, instance=app.config.instance_name())
    app.checker = await stack.enter_async_context(checker)
    await _first_round(app)
    stack.push_async_callback(app.steer.stop)
    await app.steer.start(app.table)  # before the fork: workers start with its state
    stack.push_async_callback(app.dns.stop_workers)
    await app.dns.__aenter__()  # forks the workers
    # Unwinding from here: not ready (/readyz 503); the workers answer what they hold, exit.
    stack.push_async_callback(app.dns.shut_down, app.config.dns.shutdown_grace)
    stack.push_async_callback(_cancel_tasks, app)
    _signals_on(app)
    _hooks(app)


def _build(app: Any) -> None:
    """The components, built from the config; nothing of them runs yet."""
    conf = app.config
    app.trees = compiled.TreeCache()  # compiled GeoIP trees, reused across reloads
    app.table = build_table(conf, app.zone_loader, app.locator, app.trees)
    app.board = HealthBoard()
    app.fleet = Fleet(conf, app.board)  # quorum health, drains, serials (fleet/)
    app.fleet.pools = lambda: [p for z in app.table.zones.values() for p in z.zone.pools.values()]
    app.steer = Steer(lambda: app.config, app.board)  # capacity, measured RTTs (steer/)
    app.handler = make_handler(conf, app.table, app.clients, app.board, app.stats)
    app.workers = worker_count(conf.dns)
    app._rrl = (conf.rrl, shared_limiter(conf))  # one set of accounts for all workers
    app.dns = Supervisor(app.board, app._fork_state, app.workers, conf.dns.endpoints())
    app._reload_lock = asyncio.Lock()
    app._differ = None  # dry_run's routing diff, made at the first one
    app.zones = app._zone_service()  # the zone content API's writer (zones.source)
    app.dns.on_update = lambda request: rfc2136.apply(app.zones, app.config.updates, request)
    app._background = set()
    app._tasks = []
    app.http_bound = app.probe_bound = None


async def _first_round(app: Any) -> None:
    """Health checks for every member, and one round of them (bounded) before we answer."""
    members = table_members(app.table)
    app.checker.update(members)
    app._members_changed()
    timeout = first_round_timeout(members, app.checker)
    if timeout and not await app.checker.wait_first_round(timeout):
        log.warning("first health round timed out after %.1fs; late members count as down", timeout)


def _hooks(app: Any) -> None:
    """The watcher, and what the fleet and the content bus call back; their tasks are
    cancelled first on the way down (_cancel_tasks)."""
    app._watch_state = app._snapshot()
    if app.config.reload.watch:
        app._tasks.append(asyncio.create_task(app._watch()))
    app._tasks.append(asyncio.create_task(app._resign()))  # DNSSEC: a new signing week
    app.fleet.on_join.append(app._rejoined)
    if app.content is not None:
        app.content.start_applying(app._content_reload)  # a new version: a reload
    app.fleet.on_serial.append(app._rejoined)  # a newer claim for our content's serial
    app.fleet.on_rtt.append(app._shared_rtt)  # RTTs POSTed to another instance


async def _cancel_tasks(app: Any) -> None:
    app.ready = False
    tasks = [*app._tasks, *app._background]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _signals_on(app: Any) -> None:
    """SIGHUP reloads, SIGTERM/SIGINT stop gracefully: only where the process is ours."""
    if not app.handle_signals:
        return
    if threading.current_thread() is not threading.main_thread():
        raise GeoDNSError("handle_signals needs the main thread (an App in a thread: pass False)")
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, app._reload_soon)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app._stop_signal, sig.name)


def _signals_off(app: Any) -> None:
    if app.handle_signals and threading.current_thread() is threading.main_thread():
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
