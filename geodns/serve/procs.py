"""The supervisor's side of one worker process: its handle, and watching it exit."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geodns.serve.protocols import bind_pair

log = logging.getLogger("geodns.workers")


@dataclass(eq=False)
class WorkerProc:
    """The supervisor's handle on one worker process."""

    slot: int
    pid: int
    generation: int
    writer: asyncio.StreamWriter | None
    ready: asyncio.Future
    serving: asyncio.Future
    retired: asyncio.Future
    exited: asyncio.Future
    started: float = field(default_factory=time.time)
    stats: dict[str, Any] | None = None
    health_seen: int = -1  # the last health generation the worker confirmed
    health_sent: tuple = (frozenset(), {})  # (down set, pool generations) it was last told
    health_event: asyncio.Event = field(default_factory=asyncio.Event)
    listener: asyncio.Task | None = None
    waiting: dict[int, asyncio.Future] = field(default_factory=dict)

    def describe(self, serving: bool) -> dict[str, Any]:
        """This worker for /api/v1/status (CPU and queries from the last refresh)."""
        snap = self.stats or {}
        return {
            "slot": self.slot,
            "pid": self.pid,
            "generation": self.generation,
            "serving": serving,
            "ready": self.ready.done(),
            "started": self.started,
            "queries": sum(snap.get("queries", {}).values()),
            "cpu_seconds": snap.get("cpu_seconds"),
            "stats_at": snap.get("at"),  # epoch seconds of the worker's last counters
        }


def watch_exit(pid: int, exited: Callable[[bool], Any], spawn: Callable[[Any], Any]) -> None:
    """Call `exited(reaped)` once the process ends: a pidfd in the loop, or polling where
    the kernel has none (then the child is already reaped)."""
    loop = asyncio.get_running_loop()
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # old kernel: poll instead
        spawn(_poll_exit(pid, exited))
        return

    def readable() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        exited(False)

    loop.add_reader(pidfd, readable)


async def _poll_exit(pid: int, exited: Callable[[bool], Any]) -> None:
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        await asyncio.sleep(0.1)
    exited(True)


async def first(*futures: asyncio.Future) -> None:
    await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)


async def reach(procs: list[WorkerProc], what: str, timeout: float) -> None:
    """Until each process reached `what` (or exited); a late one is logged, not fatal."""
    if not procs:
        return
    waits = [asyncio.ensure_future(first(getattr(p, what), p.exited)) for p in procs]
    _, pending = await asyncio.wait(waits, timeout=timeout)
    for task in pending:
        task.cancel()
    for proc in procs:
        if not getattr(proc, what).done() and not proc.exited.done():
            log.error("worker %d (pid %d) not %s after %.0fs", proc.slot, proc.pid, what, timeout)


def refuse_if_taken(host: str, port: int) -> None:
    """SO_REUSEPORT would quietly share a port with another server of ours: check first."""
    udp, tcp = bind_pair(host, port, reuse_port=False)
    udp.close()
    tcp.close()


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.WEXITSTATUS(status)}"
