"""dns.workers > 1: a supervisor forks worker processes that share SO_REUSEPORT sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from geodns.health.board import HealthBoard
from geodns.serve.channel import Totals, health_change, receive, send
from geodns.serve.procs import WorkerProc, describe_status, reach, refuse_if_taken, watch_exit
from geodns.serve.protocols import bind_pair
from geodns.serve.worker import ForkState, become_worker, open_fds

log = logging.getLogger("geodns.workers")

START_TIMEOUT = 30.0  # a forked worker only has to open its loop: seconds are plenty
RETIRE_TIMEOUT = 5.0
STATS_TIMEOUT = 1.0
STATS_POLL = 5.0  # background refresh, so a crashed worker loses at most this much counting
CRASH_WINDOW = 10.0
GROUP_SIGNAL_PAUSE = 1.0  # before replacing a worker that left on a SIGTERM of its own


# --- the parent side ----------------------------------------------------------------------


class Supervisor:
    """Binds one socket set per worker slot, forks the workers, restarts the ones that die.

    Each slot's sockets stay open in the supervisor, so a worker that crashes leaves its
    queue of queries waiting for its replacement instead of dropping it; a new table or
    config reaches the workers by forking a fresh generation from the current state, which
    starts reading before the old one stops.
    """

    def __init__(
        self,
        board: HealthBoard,
        state: Callable[[], ForkState],
        count: int,
        endpoints: list[tuple[str, int]],
    ) -> None:
        self.board = board
        self.state = state  # what a new worker is forked with: read at each fork
        self.count = count
        self.endpoints = endpoints
        self.slots: list[list[tuple[socket.socket, socket.socket]]] = [[] for _ in range(count)]
        self.bound: list[tuple[str, int]] = []
        self.current: list[WorkerProc | None] = [None] * count
        self.procs: dict[int, WorkerProc] = {}
        self.generation = 0
        self.retired = Totals()  # counted by workers that have exited
        self.restarts = 0
        self.stopping = False
        self._lock = asyncio.Lock()
        self._crashes: list[list[float]] = [[] for _ in range(count)]
        self._tasks: set[asyncio.Task] = set()
        self._token = 0
        self._health_pending = False
        self.on_update: Callable[[Any], Any] | None = None  # RFC 2136: the app's zone writer

    # -- sockets -----------------------------------------------------------------------

    def bind(self) -> None:
        """One UDP+TCP pair per slot and endpoint, all on one port (chosen once for port 0)."""
        for host, port in self.endpoints:
            if port:
                refuse_if_taken(host, port)
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
        self.board.listeners.append(self._health_changed)
        await self.publish()
        self._spawn(self._poll_stats())
        return self

    async def shut_down(self, grace: float) -> None:
        """Every worker stops reading and answers what it has received, queued connections
        and datagrams included, then exits: all within `grace` (__aexit__ ends the rest)."""
        self.stopping = True
        procs = [p for p in self.procs.values() if not p.exited.done()]
        for proc in procs:
            with contextlib.suppress(Exception):
                send(proc.writer, ("shutdown", grace))
        if procs:
            await asyncio.wait([p.exited for p in procs], timeout=grace + 1.0)

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_workers()
        self.close()

    async def stop_workers(self) -> None:
        """Every worker told to stop, killed if it does not within RETIRE_TIMEOUT."""
        self.stopping = True
        with contextlib.suppress(ValueError):
            self.board.listeners.remove(self._health_changed)
        for task in list(self._tasks):
            task.cancel()
        procs = list(self.procs.values())
        for proc in procs:
            with contextlib.suppress(Exception):
                send(proc.writer, ("stop",))
        if procs:
            await asyncio.wait([p.exited for p in procs], timeout=RETIRE_TIMEOUT)
        for proc in procs:
            if not proc.exited.done():
                log.warning("worker %d (pid %d) did not stop; killing it", proc.slot, proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        if procs:
            await asyncio.wait([p.exited for p in procs], timeout=RETIRE_TIMEOUT)
        rest = list(self._tasks)  # reaps and listeners started meanwhile: none outlives us
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def close(self) -> None:
        """The sockets bound by bind(): closed (a start that failed after it frees its ports)."""
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

        The new generation loads, the old stops reading, then the new starts: for the
        moment between, queries wait in the sockets' queues (never dropped), and no query
        is answered from the old state after one was answered from the new.
        """
        async with self._lock:
            self.generation += 1
            old = [p for p in self.current if p is not None]
            fresh = [self._fork(slot) for slot in range(self.count)]
            self.current = list(fresh)
            await reach(fresh, "ready", START_TIMEOUT)
            for proc in old:
                with contextlib.suppress(Exception):
                    send(proc.writer, ("retire",))
            await reach(old, "retired", RETIRE_TIMEOUT)
            await self._serve(fresh)

    async def _serve(self, procs: list[WorkerProc]) -> None:
        for proc in procs:
            if proc.ready.done() and not proc.exited.done():
                with contextlib.suppress(Exception):
                    send(proc.writer, ("serve",))
        await reach(procs, "serving", START_TIMEOUT)

    def _fork(self, slot: int) -> WorkerProc:
        parent_end, child_end = socket.socketpair()
        keep = {0, 1, 2, child_end.fileno()}
        keep |= {s.fileno() for pair in self.slots[slot] for s in pair}
        fds = open_fds()
        state = self.state()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns (coverage can't see it)
            become_worker(state, slot, self.slots[slot], child_end, keep, fds)
        child_end.close()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(4)]
        proc = WorkerProc(slot, pid, self.generation, None, *futures)
        proc.health_sent = (state.down, state.pool_generations, state.steering)
        self.procs[pid] = proc
        proc.listener = self._spawn(self._listen(proc, parent_end))
        watch_exit(proc.pid, lambda reaped: self._spawn(self._reap(proc, reaped)), self._spawn)
        log.info("worker %d started (pid %d, generation %d)", slot, pid, self.generation)
        return proc

    async def _listen(self, proc: WorkerProc, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        proc.writer = writer
        self._push_health(proc)  # anything that moved between the fork and now
        try:
            while True:
                message = await receive(reader)
                kind = message[0]
                if kind == "ready" and not proc.ready.done():
                    proc.ready.set_result(True)
                elif kind == "serving" and not proc.serving.done():
                    proc.serving.set_result(True)
                elif kind == "stats":
                    proc.stats = message[2]
                    waiter = proc.waiting.pop(message[1], None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(True)
                elif kind == "update":  # a verified RFC 2136 UPDATE (integrations/rfc2136.py)
                    self._spawn(self._update(proc, message[1], message[2]))
                elif kind == "health-ack":
                    proc.health_seen = max(proc.health_seen, message[1])
                    proc.health_event.set()
                elif kind in ("retired", "final"):
                    proc.stats = message[1]
                    if kind == "retired" and not proc.retired.done():
                        proc.retired.set_result(True)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _update(self, proc: WorkerProc, token: int, request: Any) -> None:
        rcode = 5 if self.on_update is None else await self.on_update(request)  # REFUSED
        with contextlib.suppress(Exception):
            send(proc.writer, ("update-done", token, rcode))

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
        if proc.retired.done():  # it left on a SIGTERM of its own: if the group got one,
            await asyncio.sleep(GROUP_SIGNAL_PAUSE)  # ours is on its way
            if self.stopping:
                return
        self.restarts += 1
        log.error(
            "worker %d (pid %d) died (%s); starting a new one",
            proc.slot,
            proc.pid,
            describe_status(status),
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
            await reach([fresh], "ready", START_TIMEOUT)
            await self._serve([fresh])

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
        board = self.board
        change, seen = health_change(
            board.down(),
            board.pool_generations(),
            board.generation,
            proc.health_sent,
            board.steering,
        )
        with contextlib.suppress(Exception):
            send(proc.writer, ("health", change))
            proc.health_sent = seen

    async def health_synced(self, timeout: float = 1.0) -> bool:
        """Wait until every live worker has confirmed the board's current health.

        The drain API waits for this, so its answer means answers have moved everywhere.
        """
        self._push_all_health()
        deadline = time.monotonic() + timeout
        wanted = self.board.generation
        while True:
            lagging = [
                p
                for p in self.procs.values()
                if p.ready.done() and not p.exited.done() and p.health_seen < wanted
            ]
            left = deadline - time.monotonic()
            if not lagging:
                return True
            if left <= 0:
                return False
            for proc in lagging:
                proc.health_event.clear()
            await asyncio.wait(
                [asyncio.ensure_future(p.health_event.wait()) for p in lagging], timeout=left
            )

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
                send(proc.writer, ("stats", self._token))
                waits.append(future)
        if waits:
            await asyncio.wait(waits, timeout=STATS_TIMEOUT)
        totals = self.retired.copy()
        for proc in self.procs.values():
            if proc.stats is not None:
                totals.add(proc.stats)
        return totals

    async def _poll_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_POLL)
            await self.refresh()

    def describe(self) -> list[dict[str, Any]]:
        """Per-worker facts for /api/v1/status (CPU and queries from the last refresh)."""
        procs = sorted(self.procs.values(), key=lambda p: (p.slot, p.generation))
        return [proc.describe(self.current[proc.slot] is proc) for proc in procs]
