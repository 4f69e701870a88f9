"""The supervisor <-> worker channel: length-prefixed messages, and how worker counts add up."""

from __future__ import annotations

import asyncio
import os
import pickle
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from geodns.dns.stats import Stats
from geodns.serve.protocols import TcpLimits
from geodns.serve.tcp import errors

_HEADER = struct.Struct("!I")
# TcpLimits' cumulative counters, summed over workers as Totals.tcp[name]
TCP_COUNTERS = (
    "accepted",
    "refused",
    "refused_per_source",
    "evicted",
    "evicted_slow",
    "message_timeouts",
    "write_timeouts",
)


@dataclass(frozen=True, slots=True)
class HealthChange:
    """What moved on the health board since the last push to one worker."""

    generation: int
    down: frozenset  # members now down (or drained)
    up: frozenset  # members up again
    pools: dict  # (zone, pool) -> generation, for pools whose generation moved
    steering: Any = None  # Steering.delta: capacity factors and measured RTTs that moved


def health_change(
    board_down: frozenset, board_pools: dict, generation: int, seen: tuple, steering: Any = None
) -> tuple:
    """The change from what a worker has `seen` (down set, pool generations, steering) to the
    board's state; returns (HealthChange, the new seen)."""
    seen_down, seen_pools = seen[:2]
    pools = {k: g for k, g in board_pools.items() if seen_pools.get(k) != g}
    steer = steering.delta(seen[2] if len(seen) > 2 else None) if steering is not None else None
    change = HealthChange(generation, board_down - seen_down, seen_down - board_down, pools, steer)
    return change, (board_down, board_pools, steering)


def send(writer: asyncio.StreamWriter, message: tuple) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_HEADER.pack(len(data)) + data)


async def receive(reader: asyncio.StreamReader) -> tuple:
    head = await reader.readexactly(_HEADER.size)
    return pickle.loads(await reader.readexactly(_HEADER.unpack(head)[0]))


def snapshot(stats: Stats, limits: TcpLimits, geoip: tuple[int, int]) -> dict[str, Any]:
    """Everything a worker counted since it started (cumulative, so a lost poll loses nothing)."""
    return {
        "queries": dict(stats.queries),
        "by_pool": dict(stats.by_pool),
        "durations": list(stats.durations),
        "total_seconds": stats.total_seconds,
        "sizes": {key: list(counts) for key, counts in stats.sizes.items()},
        "fail_open": stats.fail_open,
        "truncated": stats.truncated,
        "internal_errors": errors.total,  # this process's handler crashes
        "handover_dropped": stats.handover_dropped,
        "engine": dict(stats.engine),
        "abuse": stats.abuse_counts(),  # cookies_total, rrl_actions_total
        "geoip_hits": geoip[0],
        "geoip_misses": geoip[1],
        "tcp_open": limits.open,
        **{f"tcp_{name}": getattr(limits, name) for name in TCP_COUNTERS},
        "cpu_seconds": time.process_time(),
        "at": time.time(),
        "pid": os.getpid(),
    }


@dataclass
class Totals:
    """Counters summed over workers: what /metrics exports in multi-worker mode."""

    stats: Stats = field(default_factory=Stats)
    geoip_hits: int = 0
    geoip_misses: int = 0
    tcp_open: int = 0
    tcp: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TCP_COUNTERS, 0))
    cpu_seconds: float = 0.0  # workers' CPU time, those gone included (their final snapshot)

    def add(self, snap: dict[str, Any], live: bool = True) -> None:
        stats = self.stats
        for key, n in snap["queries"].items():
            stats.queries[key] += n
        for key, n in snap["by_pool"].items():
            stats.by_pool[key] += n
        stats.durations = [a + b for a, b in zip(stats.durations, snap["durations"], strict=True)]
        stats.total_seconds += snap["total_seconds"]
        for key, counts in snap.get("sizes", {}).items():
            if key in stats.sizes:  # request/response x udp/tcp, whatever a snapshot holds
                stats.sizes[key] = [a + b for a, b in zip(stats.sizes[key], counts, strict=True)]
        stats.fail_open += snap["fail_open"]
        stats.truncated += snap.get("truncated", 0)
        stats.internal_errors += snap.get("internal_errors", 0)
        stats.handover_dropped += snap.get("handover_dropped", 0)
        for key, n in snap.get("engine", {}).items():
            stats.engine[key] = stats.engine.get(key, 0) + n
        self.cpu_seconds += snap.get("cpu_seconds", 0.0)
        stats.add_abuse_counts(snap.get("abuse", {}))
        self.geoip_hits += snap["geoip_hits"]
        self.geoip_misses += snap["geoip_misses"]
        for name in TCP_COUNTERS:
            self.tcp[name] += snap.get(f"tcp_{name}", 0)
        if live:
            self.tcp_open += snap["tcp_open"]

    def copy(self) -> Totals:
        out = Totals()
        out.stats.queries.update(self.stats.queries)
        out.stats.by_pool.update(self.stats.by_pool)
        out.stats.durations = list(self.stats.durations)
        out.stats.total_seconds = self.stats.total_seconds
        out.stats.sizes = {key: list(counts) for key, counts in self.stats.sizes.items()}
        out.stats.fail_open = self.stats.fail_open
        out.stats.truncated = self.stats.truncated
        out.stats.internal_errors = self.stats.internal_errors
        out.stats.handover_dropped = self.stats.handover_dropped
        out.stats.engine = dict(self.stats.engine)
        out.cpu_seconds = self.cpu_seconds
        out.stats.add_abuse_counts(self.stats.abuse_counts())
        out.geoip_hits, out.geoip_misses = self.geoip_hits, self.geoip_misses
        out.tcp = dict(self.tcp)
        return out
