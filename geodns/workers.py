"""dns.workers > 1: a supervisor forks worker processes that share SO_REUSEPORT sockets."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import signal
import socket
import struct
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, NoReturn

from geodns.server import DnsServer, TcpLimits, bind_pair
from geodns.stats import Stats

log = logging.getLogger("geodns.workers")

_HEADER = struct.Struct("!I")
START_TIMEOUT = 30.0  # a forked worker only has to open its loop: seconds are plenty
RETIRE_TIMEOUT = 5.0
STATS_TIMEOUT = 1.0
STATS_POLL = 5.0  # background refresh, so a crashed worker loses at most this much counting
CRASH_WINDOW = 10.0


# --- the control channel: length-prefixed pickles over a socketpair (parent <-> child) ---


def _send(writer: asyncio.StreamWriter, message: tuple) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_HEADER.pack(len(data)) + data)


async def _receive(reader: asyncio.StreamReader) -> tuple:
    head = await reader.readexactly(_HEADER.size)
    return pickle.loads(await reader.readexactly(_HEADER.unpack(head)[0]))


# --- what a worker reports, and how reports add up ----------------------------------------


def snapshot(stats: Stats, limits: TcpLimits, geoip: tuple[int, int]) -> dict[str, Any]:
    """Everything a worker counted since it started (cumulative, so a lost poll loses nothing)."""
    return {
        "queries": dict(stats.queries),
        "by_pool": dict(stats.by_pool),
        "durations": list(stats.durations),
        "total_seconds": stats.total_seconds,
        "fail_open": stats.fail_open,
        "geoip_hits": geoip[0],
        "geoip_misses": geoip[1],
        "tcp_open": limits.open,
        "cpu_seconds": time.process_time(),
        "pid": os.getpid(),
    }


@dataclass
class Totals:
    """Counters summed over workers: what /metrics exports in multi-worker mode."""

    stats: Stats = field(default_factory=Stats)
    geoip_hits: int = 0
    geoip_misses: int = 0
    tcp_open: int = 0

    def add(self, snap: dict[str, Any], live: bool = True) -> None:
        stats = self.stats
        for key, n in snap["queries"].items():
            stats.queries[key] += n
        for key, n in snap["by_pool"].items():
            stats.by_pool[key] += n
        stats.durations = [a + b for a, b in zip(stats.durations, snap["durations"], strict=True)]
        stats.total_seconds += snap["total_seconds"]
        stats.fail_open += snap["fail_open"]
        self.geoip_hits += snap["geoip_hits"]
        self.geoip_misses += snap["geoip_misses"]
        if live:
            self.tcp_open += snap["tcp_open"]

    def copy(self) -> Totals:
        out = Totals()
        out.stats.queries.update(self.stats.queries)
        out.stats.by_pool.update(self.stats.by_pool)
        out.stats.durations = list(self.stats.durations)
        out.stats.total_seconds = self.stats.total_seconds
        out.stats.fail_open = self.stats.fail_open
        out.geoip_hits, out.geoip_misses = self.geoip_hits, self.geoip_misses
        return out


class PushedHealth:
    """The health a worker reads: the supervisor's down set, replaced whole on every push."""

    __slots__ = ("down", "generation")

    def __init__(self, generation: int, down: frozenset) -> None:
        self.generation = generation
        self.down = down

    def is_up(self, member: tuple[str, str, str]) -> bool:
        return member not in self.down


# --- the child side -----------------------------------------------------------------------


def _open_fds() -> set[int]:
    try:
        return {int(name) for name in os.listdir("/proc/self/fd")}
    except OSError:  # no /proc: the first few hundred descriptors cover a fresh server
        return set(range(3, 256))


def _become_worker(
    app: Any, slot: int, sockets: list, channel: socket.socket, keep: set[int], fds: set[int]
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
        code = Worker(app, slot, sockets, channel).run()
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


class Worker:
    """One forked process: the parent's table, a handler of its own, the slot's sockets."""

    def __init__(self, app: Any, slot: int, sockets: list, channel: socket.socket) -> None:
        self.app, self.slot, self.sockets, self.channel = app, slot, sockets, channel
        self.stats = Stats()
        self.stop = asyncio.Event()

    def run(self) -> int:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - platforms without uvloop
            return asyncio.run(self.main())
        return uvloop.run(self.main())

    async def main(self) -> int:
        from geodns.handler import Handler

        app, conf = self.app, self.app.config
        self.stop = asyncio.Event()
        self.health = PushedHealth(app.board.generation, app.board.down())
        handler = Handler(
            app.table,
            app.clients,
            self.health,
            max_udp_payload=conf.dns.max_udp_payload,
            ecs_enabled=conf.ecs.enabled,
            stats=self.stats,
        )
        handler.query_sample = conf.log.query_sample if conf.log.queries else 0.0
        share = -(-conf.dns.tcp_max_connections // max(conf.dns.worker_count(), 1))
        self.limits = TcpLimits(conf.dns.tcp_idle_timeout, share)  # the cap, split over workers
        server = DnsServer(handler.handle, [], self.limits, observe=self.stats.observe)
        server.sockets = list(self.sockets)
        locator = app.locator
        self._geoip_base = (locator.cache_hits, locator.cache_misses)
        self.locator = locator
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.stop.set)
        reader, writer = await asyncio.open_unix_connection(sock=self.channel)
        async with server:
            _send(writer, ("ready", os.getpid()))
            commands = asyncio.create_task(self._commands(reader, writer, server))
            await self.stop.wait()
            commands.cancel()
        with contextlib.suppress(Exception):
            _send(writer, ("final", self._snapshot()))
            await writer.drain()
            writer.close()
        return 0

    def _snapshot(self) -> dict[str, Any]:
        loc = self.locator
        geoip = (loc.cache_hits - self._geoip_base[0], loc.cache_misses - self._geoip_base[1])
        return snapshot(self.stats, self.limits, geoip)

    async def _commands(self, reader, writer, server: DnsServer) -> None:
        try:
            while True:
                message = await _receive(reader)
                kind = message[0]
                if kind == "health":
                    self.health.down = message[2]
                    self.health.generation = message[1]
                elif kind == "stats":
                    _send(writer, ("stats", message[1], self._snapshot()))
                elif kind == "retire":
                    server.retire()
                    _send(writer, ("retired", self._snapshot()))
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


# --- the parent side ----------------------------------------------------------------------


@dataclass(eq=False)
class WorkerProc:
    """The supervisor's handle on one worker process."""

    slot: int
    pid: int
    generation: int
    writer: asyncio.StreamWriter | None
    ready: asyncio.Future
    retired: asyncio.Future
    exited: asyncio.Future
    started: float = field(default_factory=time.time)
    stats: dict[str, Any] | None = None
    listener: asyncio.Task | None = None
    waiting: dict[int, asyncio.Future] = field(default_factory=dict)


class Supervisor:
    """Binds one socket set per worker slot, forks the workers, restarts the ones that die.

    Each slot's sockets stay open in the supervisor, so a worker that crashes leaves its
    queue of queries waiting for its replacement instead of dropping it; a new table or
    config reaches the workers by forking a fresh generation from the current state, which
    starts reading before the old one stops.
    """

    def __init__(self, app: Any, count: int, endpoints: list[tuple[str, int]]) -> None:
        self.app = app
        self.count = count
        self.endpoints = endpoints
        self.slots: list[list[tuple[socket.socket, socket.socket]]] = [[] for _ in range(count)]
        self.bound: list[tuple[str, int]] = []
        self.current: list[WorkerProc | None] = [None] * count
        self.procs: dict[int, WorkerProc] = {}
        self.generation = 0
        self.retired = Totals()  # counted by workers that have exited
        self.totals = Totals()
        self.restarts = 0
        self.stopping = False
        self._lock = asyncio.Lock()
        self._crashes: list[list[float]] = [[] for _ in range(count)]
        self._tasks: set[asyncio.Task] = set()
        self._token = 0
        self._health_pending = False

    # -- sockets -----------------------------------------------------------------------

    def bind(self) -> None:
        """One UDP+TCP pair per slot and endpoint, all on one port (chosen once for port 0)."""
        for host, port in self.endpoints:
            if port:
                _refuse_if_taken(host, port)
            first = bind_pair(host, port, reuse_port=True)
            chosen = first[0].getsockname()[1]
            pairs = [first] + [bind_pair(host, chosen, True) for _ in range(self.count - 1)]
            for slot, pair in enumerate(pairs):
                self.slots[slot].append(pair)
            self.bound.append((host, chosen))

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Supervisor:
        if not self.bound:
            self.bind()
        self.app.board.listeners.append(self._health_changed)
        await self.publish()
        self._spawn(self._poll_stats())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stopping = True
        with contextlib.suppress(ValueError):
            self.app.board.listeners.remove(self._health_changed)
        for task in list(self._tasks):
            task.cancel()
        procs = list(self.procs.values())
        for proc in procs:
            with contextlib.suppress(Exception):
                _send(proc.writer, ("stop",))
        if procs:
            await asyncio.wait([p.exited for p in procs], timeout=RETIRE_TIMEOUT)
        for proc in procs:
            if not proc.exited.done():
                log.warning("worker %d (pid %d) did not stop; killing it", proc.slot, proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        if procs:
            await asyncio.wait([p.exited for p in procs], timeout=RETIRE_TIMEOUT)
        for pairs in self.slots:
            for udp, tcp in pairs:
                udp.close()
                tcp.close()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- generations ---------------------------------------------------------------------

    async def publish(self) -> None:
        """Fork a worker per slot from the current table, config and health; retire the old.

        The new generation answers before the old stops reading, and the old has stopped
        before this returns: a query sent afterwards meets the new state only.
        """
        async with self._lock:
            self.generation += 1
            old = [p for p in self.current if p is not None]
            fresh = [self._fork(slot) for slot in range(self.count)]
            self.current = list(fresh)
            await self._await_ready(fresh)
            for proc in old:
                with contextlib.suppress(Exception):
                    _send(proc.writer, ("retire",))
            if old:
                waits = [asyncio.ensure_future(_first(p.retired, p.exited)) for p in old]
                await asyncio.wait(waits, timeout=RETIRE_TIMEOUT)

    async def _await_ready(self, procs: list[WorkerProc]) -> None:
        waits = [asyncio.ensure_future(_first(p.ready, p.exited)) for p in procs]
        _, pending = await asyncio.wait(waits, timeout=START_TIMEOUT)
        for task in pending:
            task.cancel()
        late = [p for p in procs if not p.ready.done()]
        for proc in late:
            log.error("worker %d (pid %d) did not start in time", proc.slot, proc.pid)

    def _fork(self, slot: int) -> WorkerProc:
        parent_end, child_end = socket.socketpair()
        keep = {0, 1, 2, child_end.fileno()}
        keep |= {s.fileno() for pair in self.slots[slot] for s in pair}
        fds = _open_fds()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns (coverage can't see it)
            _become_worker(self.app, slot, self.slots[slot], child_end, keep, fds)
        child_end.close()
        loop = asyncio.get_running_loop()
        proc = WorkerProc(
            slot, pid, self.generation, None, loop.create_future(), loop.create_future(),
            loop.create_future(),
        )  # fmt: skip
        self.procs[pid] = proc
        proc.listener = self._spawn(self._listen(proc, parent_end))
        self._watch_exit(proc)
        log.info("worker %d started (pid %d, generation %d)", slot, pid, self.generation)
        return proc

    async def _listen(self, proc: WorkerProc, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        proc.writer = writer
        self._push_health(proc)  # anything that moved between the fork and now
        try:
            while True:
                message = await _receive(reader)
                kind = message[0]
                if kind == "ready" and not proc.ready.done():
                    proc.ready.set_result(True)
                elif kind == "stats":
                    proc.stats = message[2]
                    waiter = proc.waiting.pop(message[1], None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(True)
                elif kind in ("retired", "final"):
                    proc.stats = message[1]
                    if kind == "retired" and not proc.retired.done():
                        proc.retired.set_result(True)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _watch_exit(self, proc: WorkerProc) -> None:
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):  # old kernel: poll instead
            self._spawn(self._poll_exit(proc))
            return

        def readable() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._spawn(self._reap(proc))

        loop.add_reader(pidfd, readable)

    async def _poll_exit(self, proc: WorkerProc) -> None:
        while os.waitpid(proc.pid, os.WNOHANG) == (0, 0):
            await asyncio.sleep(0.1)
        await self._reap(proc, reaped=True)

    async def _reap(self, proc: WorkerProc, reaped: bool = False) -> None:
        status = 0
        if not reaped:
            with contextlib.suppress(ChildProcessError):
                status = os.waitpid(proc.pid, 0)[1]
        if proc.listener is not None:  # its last words ("final" counts) come before EOF
            await asyncio.wait([proc.listener], timeout=1.0)
        self.procs.pop(proc.pid, None)
        if proc.stats is not None:
            self.retired.add(proc.stats, live=False)
        if not proc.exited.done():
            proc.exited.set_result(status)
        if self.stopping or self.current[proc.slot] is not proc:
            return
        self.restarts += 1
        log.error(
            "worker %d (pid %d) died (%s); starting a new one",
            proc.slot,
            proc.pid,
            _describe_status(status),
        )
        now = time.monotonic()
        recent = [t for t in self._crashes[proc.slot] if now - t < CRASH_WINDOW] + [now]
        self._crashes[proc.slot] = recent
        if len(recent) > 3:  # crash loop: back off instead of forking flat out
            await asyncio.sleep(min(2.0 ** (len(recent) - 3), 30.0))
        async with self._lock:
            if self.stopping or self.current[proc.slot] is not proc:
                return
            fresh = self._fork(proc.slot)
            self.current[proc.slot] = fresh
            await self._await_ready([fresh])

    # -- health and counters -------------------------------------------------------------

    def _health_changed(self) -> None:
        """Coalesce a burst of changes (a reload moves many members) into one push."""
        if self._health_pending:
            return
        self._health_pending = True
        asyncio.get_running_loop().call_soon(self._push_all_health)

    def _push_all_health(self) -> None:
        self._health_pending = False
        for proc in list(self.procs.values()):
            self._push_health(proc)

    def _push_health(self, proc: WorkerProc) -> None:
        if proc.writer is None:
            return
        board = self.app.board
        with contextlib.suppress(Exception):
            _send(proc.writer, ("health", board.generation, board.down()))

    async def refresh(self) -> Totals:
        """Ask every live worker for its counters (1 s at most) and add them up."""
        loop = asyncio.get_running_loop()
        waits = []
        for proc in list(self.procs.values()):
            if proc.writer is None or not proc.ready.done():
                continue
            self._token += 1
            future = loop.create_future()
            proc.waiting[self._token] = future
            with contextlib.suppress(Exception):
                _send(proc.writer, ("stats", self._token))
                waits.append(future)
        if waits:
            await asyncio.wait(waits, timeout=STATS_TIMEOUT)
        totals = self.retired.copy()
        for proc in self.procs.values():
            if proc.stats is not None:
                totals.add(proc.stats)
        self.totals = totals
        return totals

    async def _poll_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_POLL)
            await self.refresh()

    def describe(self) -> list[dict[str, Any]]:
        """Per-worker facts for /api/v1/status (CPU and queries from the last refresh)."""
        out = []
        for proc in sorted(self.procs.values(), key=lambda p: (p.slot, p.generation)):
            snap = proc.stats or {}
            out.append(
                {
                    "slot": proc.slot,
                    "pid": proc.pid,
                    "generation": proc.generation,
                    "serving": self.current[proc.slot] is proc,
                    "ready": proc.ready.done(),
                    "started": proc.started,
                    "queries": sum(snap.get("queries", {}).values()),
                    "cpu_seconds": snap.get("cpu_seconds"),
                }
            )
        return out


async def _first(*futures: asyncio.Future) -> None:
    await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)


def _refuse_if_taken(host: str, port: int) -> None:
    """SO_REUSEPORT would quietly share a port with another server of ours: check first."""
    udp, tcp = bind_pair(host, port, reuse_port=False)
    udp.close()
    tcp.close()


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.WEXITSTATUS(status)}"
