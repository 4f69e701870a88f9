"""Measured RTTs per client network, ASN or country and pool: smoothed, expiring, persisted."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geodns.health.board import HealthBoard
from geodns.health.steering import Measured, RttConfig, key_text, parse_client

log = logging.getLogger("geodns.steer")
STATE_FILE = "rtt.json"


@dataclass(frozen=True, slots=True)
class Entry:
    """A time-decayed mean: each sample weighs 2^(-age / half_life); ms = total / weight."""

    total: float
    weight: float
    at: float  # the last sample's time

    @property
    def ms(self) -> float:
        return self.total / self.weight

    def add(self, ms: float, now: float, half_life: float) -> Entry:
        decay = 0.5 ** (max(now - self.at, 0.0) / half_life)
        return Entry(self.total * decay + ms, self.weight * decay + 1.0, now)


def validate(zone: str, items: Any, known: set[str]) -> tuple[list[tuple], list[str]]:
    """[(client key, pool, ms)] of a POSTed batch, or the problems (the first 20 and a count)."""
    if not isinstance(items, list) or not items:
        return [], ['expected a non-empty JSON list of {"client", "pool", "rtt_ms"}']
    parsed, problems = [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) - {"client", "pool", "rtt_ms"}:
            problems.append(f"[{i}]: expected {{client, pool, rtt_ms}}")
            continue
        key, pool, ms = parse_client(item.get("client", "")), item.get("pool"), item.get("rtt_ms")
        if key is None:
            problems.append(
                f"[{i}]: client {item.get('client')!r} is not a network, asn:N or country:XX"
            )
        if pool not in known:
            problems.append(f"[{i}]: pool {pool!r} is not a pool of {zone}")
        number = isinstance(ms, (int, float)) and not isinstance(ms, bool)
        if not number or math.isnan(ms) or not 0 <= ms < 1e6:
            problems.append(f"[{i}]: rtt_ms must be a number of milliseconds >= 0")
        elif key is not None and pool in known:
            parsed.append((key, str(pool), float(ms)))
    if len(problems) > 20:
        problems = [*problems[:20], f"... and {len(problems) - 20} more"]
    return parsed, problems


class RttStore:
    """Every zone's measurements: POSTed samples in, one Measured table per zone out to the
    board (and from it to every worker), kept in `state_dir` across restarts."""

    def __init__(
        self,
        board: HealthBoard,
        settings: Callable[[], RttConfig],
        state_dir: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.board, self.settings, self.clock = board, settings, clock
        self.path = Path(state_dir) / STATE_FILE if state_dir else None
        self.zones: dict[str, dict[tuple[tuple, str], Entry]] = {}

    def post(self, zone: str, items: Any, pools: Iterable[str]) -> tuple[int, list[str]]:
        """Validate a whole batch (nothing is applied when any item is bad); (count, problems)."""
        parsed, problems = validate(zone, items, set(pools))
        if problems:
            return 0, problems
        now, conf = self.clock(), self.settings()
        entries = self.zones.setdefault(zone, {})
        for key, pool, ms in parsed:
            old = entries.get((key, pool))
            if old is None or now - old.at > conf.expire_after:
                entries[(key, pool)] = Entry(ms, 1.0, now)
            else:
                entries[(key, pool)] = old.add(ms, now, conf.half_life)
        self._bound(entries, conf.max_entries)
        self._publish(zone)
        self.save()
        return len(parsed), []

    @staticmethod
    def _bound(entries: dict, limit: int) -> None:
        if len(entries) > limit:
            for key in sorted(entries, key=lambda k: entries[k].at)[: len(entries) - limit]:
                del entries[key]

    def expire(self) -> int:
        """Drop measurements not refreshed within `expire_after`; how many went."""
        cutoff = self.clock() - self.settings().expire_after
        gone = 0
        for zone, entries in self.zones.items():
            old = [k for k, e in entries.items() if e.at < cutoff]
            for key in old:
                del entries[key]
            if old:
                gone += len(old)
                self._publish(zone)
        if gone:
            self.save()
        return gone

    def table(self, zone: str) -> Measured:
        rows: dict[tuple, dict[str, float]] = {}
        for (key, pool), entry in self.zones.get(zone, {}).items():
            rows.setdefault(key, {})[pool] = entry.ms
        return Measured(rows)

    def _publish(self, zone: str) -> None:
        self.board.set_measured(zone, self.table(zone))

    def publish_all(self) -> None:
        for zone in self.zones:
            self._publish(zone)

    def status(self) -> dict[str, Any]:
        """Counts per zone and kind, for /api/v1/status."""
        out: dict[str, Any] = {}
        for zone, entries in self.zones.items():
            kinds: dict[str, int] = {}
            for key, _ in entries:
                name = "network" if key[0] == "net" else key[0]
                kinds[name] = kinds.get(name, 0) + 1
            out[zone] = {"measurements": len(entries), "by_kind": kinds}
        return out

    # -- state_dir ------------------------------------------------------------------------

    def save(self) -> None:
        """Write every measurement to state_dir (atomically: a crash leaves the old file)."""
        if self.path is None:
            return
        data = {
            zone: [
                {"client": key_text(k), "pool": p, "total": e.total, "weight": e.weight, "at": e.at}
                for (k, p), e in entries.items()
            ]
            for zone, entries in self.zones.items()
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"version": 1, "zones": data}), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot keep measured RTTs in %s: %s", self.path, exc)

    def load(self) -> int:
        """Read what an earlier run kept (expired entries dropped); how many were kept."""
        if self.path is None or not self.path.exists():
            return 0
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))["zones"]
            for zone, rows in data.items():
                entries = self.zones.setdefault(zone, {})
                for row in rows:
                    key = parse_client(row["client"])
                    if key is not None:
                        entries[(key, row["pool"])] = Entry(row["total"], row["weight"], row["at"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring measured RTTs in %s: %s", self.path, exc)
            self.zones = {}
            return 0
        self.expire()
        self.publish_all()
        return sum(len(e) for e in self.zones.values())
