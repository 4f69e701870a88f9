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
from geodns.geo.ecs import ClientFactory
from geodns.model import MemberKey, PoolKey
from geodns.serve.cpus import worker_count
from geodns.serve.channel import HealthChange, receive, send, snapshot
from geodns.serve.protocols import DnsServer, TcpLimits
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


class PushedHealth:
    """The health a worker reads: the board's state at the fork, then its changes as pushed.

    Only what moved crosses the channel (members that went down or came up, pools whose
    generation moved), not the whole down set on every change.
    """

    __slots__ = ("down", "generation", "pools")

    def __init__(self, generation: int, down: Iterable[MemberKey], pools: dict) -> None:
        self.generation = generation
        self.down = set(down)
        self.pools: dict[PoolKey, int] = dict(pools)

    def is_up(self, member: MemberKey) -> bool:
        return member not in self.down

    def pool_generation(self, pool: PoolKey) -> int:
        return self.pools.get(pool, 0)

    def apply(self, change: HealthChange) -> None:
        """One push: the generation moves last, so readers never pair it with old state."""
        self.down.difference_update(change.up)
        self.down.update(change.down)
        self.pools.update(change.pools)
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

    def run(self) -> int:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - platforms without uvloop
            return asyncio.run(self.main())
        return uvloop.run(self.main())

    async def main(self) -> int:
        state, conf = self.state, self.state.config
        self.stop = asyncio.Event()
        self.health = PushedHealth(state.health_generation, state.down, state.pool_generations)
        handler = make_handler(conf, state.table, state.clients, self.health, self.stats)
        share = -(-conf.dns.tcp_max_connections // max(worker_count(conf.dns), 1))
        self.limits = TcpLimits(conf.dns.tcp_idle_timeout, share)  # the cap, split over workers
        server = DnsServer(handler.handle, [], self.stats, self.limits, observe=self.stats.observe)
        server.sockets = list(self.sockets)
        locator = state.clients.locator
        self._geoip_base = (locator.cache_hits, locator.cache_misses)
        self.locator = locator
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.stop.set)
        reader, writer = await asyncio.open_unix_connection(sock=self.channel)
        self.server = server
        send(writer, ("ready", os.getpid()))  # loaded; reading starts on "serve"
        commands = asyncio.create_task(self._commands(reader, writer))
        await self.stop.wait()
        commands.cancel()
        if self.serving:
            await server.__aexit__(None, None, None)
        with contextlib.suppress(Exception):
            send(writer, ("final", self._snapshot()))
            await writer.drain()
            writer.close()
        return 0

    def _snapshot(self) -> dict[str, Any]:
        loc = self.locator
        geoip = (loc.cache_hits - self._geoip_base[0], loc.cache_misses - self._geoip_base[1])
        return snapshot(self.stats, self.limits, geoip)

    async def _commands(self, reader, writer) -> None:
        server = self.server
        try:
            while True:
                message = await receive(reader)
                kind = message[0]
                if kind == "health":
                    self.health.apply(message[1])
                    send(writer, ("health-ack", message[1].generation))
                elif kind == "stats":
                    send(writer, ("stats", message[1], self._snapshot()))
                elif kind == "serve":
                    if not self.serving:
                        await server.__aenter__()
                        self.serving = True
                    send(writer, ("serving",))
                elif kind == "retire":
                    if self.serving:
                        server.retire()
                    send(writer, ("retired", self._snapshot()))
                    await self._drain_tcp()
                    self.stop.set()
                elif kind == "stop":
                    self.stop.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.stop.set()  # the supervisor is gone: so are we

    async def _drain_tcp(self) -> None:
        """Give open TCP connections until the idle timeout to finish, then go."""
        deadline = time.monotonic() + self.limits.idle_timeout
        while self.limits.open and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
