"""One forked worker process: the parent's table, its own handler, a slot's sockets."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from geodns.build import make_handler
from geodns.config import Config
from geodns.dns.stats import Stats
from geodns.dns.update import UpdateDesk
from geodns.geo.ecs import ClientFactory
from geodns.health.steering import applied
from geodns.integrations.rfc2136 import UpdateLink
from geodns.model import MemberKey, PoolKey
from geodns.native import qlog
from geodns.native.udp import native_udp
from geodns.ops import packing
from geodns.serve.channel import HealthChange, receive, send, snapshot
from geodns.serve.cpus import worker_count
from geodns.serve.protocols import DnsServer, TcpLimits
from geodns.serve.tcp import errors
from geodns.table import Table


@dataclass(frozen=True, slots=True)
class ForkState:
    """What a worker is forked with: the state the supervisor answers from right now."""

    config: Config
    table: Table
    clients: ClientFactory
    health_generation: int
    down: frozenset[MemberKey]
    pool_generations: dict[PoolKey, int]
    steering: Any = None  # health/board.py Steering: capacity factors, measured RTTs
    rrl: Any = None  # the server's rate limiter, in shared memory (build.shared_limiter)


class PushedHealth:
    """The health a worker reads: the board's state at the fork, then its changes as pushed.

    Only what moved crosses the channel (members that went down or came up, pools whose
    generation moved), not the whole down set on every change.
    """

    __slots__ = ("down", "generation", "pools", "steering")

    def __init__(
        self, generation: int, down: Iterable[MemberKey], pools: dict, steering: Any = None
    ) -> None:
        self.generation = generation
        self.down = set(down)
        self.pools: dict[PoolKey, int] = dict(pools)
        self.steering = steering

    def capacity(self, pool: PoolKey) -> float:
        return 1.0 if self.steering is None else self.steering.factors.get(pool, 1.0)

    def measured(self, zone: str) -> Any:
        return None if self.steering is None else self.steering.measured.get(zone)

    def capacity_note(self, pool: PoolKey) -> str:
        return ""  # notes stay in the supervisor (explain runs there)

    def is_up(self, member: MemberKey) -> bool:
        return member not in self.down

    def pool_generation(self, pool: PoolKey) -> int:
        return self.pools.get(pool, 0)

    def apply(self, change: HealthChange) -> None:
        """One push: the generation moves last, so readers never pair it with old state."""
        self.down.difference_update(change.up)
        self.down.update(change.down)
        self.pools.update(change.pools)
        if change.steering is not None:
            self.steering = applied(self.steering, change.steering)
        self.generation = change.generation


# --- the child side -----------------------------------------------------------------------


def open_fds() -> set[int]:
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except OSError:  # no /proc: the first few hundred descriptors cover a fresh server
        return set(range(3, 256))


def become_worker(
    state: ForkState,
    slot: int,
    sockets: list,
    channel: socket.socket,
    keep: set[int],
    fds: set[int],
) -> NoReturn:
    """The forked child: drop the parent's descriptors and signals, then serve until told."""
    code = 70
    try:
        gc.freeze()  # the parent's objects are never collected here, so never finalized
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        for sig in (signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)  # the supervisor reloads and stops us
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # The parent's sockets must not stay open here (a TCP peer would never see our
        # parent close); /dev/null over each keeps the numbers taken, so a stray finalizer
        # can never close a descriptor this process opens later.
        null = os.open(os.devnull, os.O_RDWR)
        for fd in sorted(fds - keep - {null}):
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
        os.close(null)
        code = Worker(state, slot, sockets, channel).run()
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


class Worker:
    """One forked process: the parent's table, a handler of its own, the slot's sockets."""

    def __init__(self, state: ForkState, slot: int, sockets: list, channel: socket.socket) -> None:
        self.state, self.slot, self.sockets, self.channel = state, slot, sockets, channel
        self.stats = Stats()
        self.stop = asyncio.Event()
        self.serving = False
        self.retiring = False
        self.retire_by = 0.0
        self._tasks: set[asyncio.Task] = set()

    def run(self) -> int:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - platforms without uvloop
            return asyncio.run(self.main())
        return uvloop.run(self.main())

    async def main(self) -> int:
        state, conf = self.state, self.state.config
        self.stop = asyncio.Event()
        self.health = PushedHealth(
            state.health_generation, state.down, state.pool_generations, state.steering
        )
        handler = make_handler(
            conf, state.table, state.clients, self.health, self.stats, rrl=state.rrl
        )
        self.updates = UpdateLink(lambda message: send(self.writer, message))
        if conf.updates.enabled:  # RFC 2136: verified here, written by the supervisor
            handler.updates = UpdateDesk(
                conf.updates, self.updates.submit, counts=self.stats.updates
            )
        self.limits = tcp_limits(conf)
        self.qlog = qlog.open_log(conf)  # None: no query log, no dnstap
        observe = qlog.plain(self.stats) if self.qlog is None else self.qlog.observer(self.stats)
        server = DnsServer(handler.handle, [], self.stats, self.limits, observe=observe)
        server.native = native_udp(conf, handler, self.stats, errors.failed, self.qlog, observe)
        server.sockets = list(self.sockets)
        locator = state.clients.locator
        self._geoip_base = (locator.cache_hits, locator.cache_misses)
        self.locator = locator
        reader, writer = await asyncio.open_unix_connection(sock=self.channel)
        self.server, self.writer = server, writer
        # Sent to the worker alone (or to the whole group, by systemd): the same graceful
        # exit the supervisor asks for, so a query in flight is answered either way.
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGTERM, lambda: self._spawn(self._retire(True, conf.dns.shutdown_grace))
        )
        send(writer, ("ready", os.getpid()))  # loaded; reading starts on "serve"
        commands = asyncio.create_task(self._commands(reader, writer))
        await self.stop.wait()
        commands.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.serving:
            await server.__aexit__(None, None, None)
        if self.qlog is not None:  # what the threads pushed, written (dnstap: STOP)
            self.qlog.stop()
        with contextlib.suppress(Exception):
            send(writer, ("final", self._snapshot()))
            await writer.drain()
            writer.close()
        return 0

    def _snapshot(self) -> dict[str, Any]:
        self.server.add_native_counts()
        if self.qlog is not None:
            self.stats.query_log = self.qlog.counts()
        loc = self.locator
        hits = loc.cache_hits - self._geoip_base[0] + self.stats.geoip_native  # native classes
        geoip = (hits, loc.cache_misses - self._geoip_base[1])
        return snapshot(self.stats, self.limits, geoip)

    async def _send_stats(self, writer: asyncio.StreamWriter, token: int) -> None:
        """Counters for a scrape, pickled a slice per loop turn (ops/packing.py) so answering
        goes on meanwhile; one at a time, so replies leave in the order they were asked."""
        lock = self.__dict__.setdefault("_stats_lock", asyncio.Lock())
        async with lock:
            snap = await packing.pack_snapshot(self._snapshot())
            if self.retiring:  # "retired" carried newer counts: never send older ones after
                snap = self._snapshot()
            send(writer, ("stats", token, snap))

    async def _commands(self, reader, writer) -> None:
        server = self.server
        try:
            while True:
                message = await receive(reader)
                kind = message[0]
                if kind == "health":
                    self.health.apply(message[1])
                    self.server.health_changed()  # native policy answers
                    send(writer, ("health-ack", message[1].generation))
                elif kind == "stats":
                    self._spawn(self._send_stats(writer, message[1]))
                elif kind == "update-done":
                    self.updates.answered(message[1], message[2])
                elif kind == "serve":
                    if not self.serving:
                        await server.__aenter__()
                        self.serving = True
                    send(writer, ("serving",))
                elif kind == "retire":  # a new generation took over the sockets
                    self._spawn(self._retire(False, self.limits.idle_timeout))
                elif kind == "shutdown":  # nobody takes over: what is queued is ours
                    self._spawn(self._retire(True, message[1]))
                elif kind == "stop":
                    self.stop.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.stop.set()  # the supervisor is gone: so are we

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retire(self, queued: bool, grace: float) -> None:
        """Stop reading, tell the supervisor, give open TCP connections `grace` to finish.

        `queued`: on shutdown the connections and datagrams already queued on our sockets
        are answered too (on a reload the new generation reads them).
        """
        deadline = time.monotonic() + grace
        if self.retiring:  # a shutdown during a reload's retirement only hurries it
            self.retire_by = min(self.retire_by, deadline)
            return
        self.retiring, self.retire_by = True, deadline
        if self.serving:
            if queued:
                await self.server.shut_down()
            else:
                self.server.retire()
        with contextlib.suppress(Exception):
            send(self.writer, ("retired", self._snapshot()))
        while (self.limits.open or self.updates.waiting) and time.monotonic() < self.retire_by:
            await asyncio.sleep(0.05)
        self.stop.set()


def tcp_limits(conf: Config) -> TcpLimits:
    """This worker's TCP bounds: the cap split over the workers (the kernel spreads
    connections evenly); the per-source limit is per worker, since one source's connections
    land on workers by hash and a split would refuse a client under its figure by bad luck."""
    dns = conf.dns
    share = -(-dns.tcp_max_connections // max(worker_count(dns), 1))
    return TcpLimits(
        idle_timeout=dns.tcp_idle_timeout,
        max_connections=share,
        message_timeout=dns.tcp_message_timeout,
        max_per_source=dns.tcp_max_per_source,
        write_timeout=dns.tcp_write_timeout,
    )
