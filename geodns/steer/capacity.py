"""Pool capacity from Prometheus: one query per distinct expression each interval -> factors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from geodns.health.board import HealthBoard
from geodns.health.steering import PrometheusConfig, capacity_factor
from geodns.model import CapacitySpec, PoolKey

log = logging.getLogger("geodns.steer")


@dataclass(frozen=True, slots=True)
class Sample:
    """The last answer to one query: the last good value and when, and the last error."""

    value: float | None  # the last good load; None: never had one
    at: float | None  # when it was fetched
    error: str = ""  # why the latest poll gave nothing ("" when it gave `value`)


@dataclass(frozen=True, slots=True)
class PoolCapacity:
    """One pool's capacity as status, metrics and explain show it."""

    load: float | None  # the load in use (None: none, so no shedding)
    factor: float  # 1 = full share, 0 = shed
    status: str  # "ok" | "no data" | "error" | "stale" | "off"
    note: str  # the why, in words


class CapacityPoller:
    """Runs each pool's `capacity.query` on the configured Prometheus every interval, off
    the answering path, and puts each pool's factor on the board (workers get it pushed as
    they get health). No data, an error with no good value younger than `stale_after`,
    or no Prometheus at all mean no shedding, and the status says which."""

    def __init__(
        self,
        board: HealthBoard,
        settings: Callable[[], PrometheusConfig],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.board = board
        self.settings = settings  # read at each poll: a reload may change them
        self.clock = clock
        self.pools: dict[PoolKey, CapacitySpec] = {}
        self.samples: dict[str, Sample] = {}
        self.polls = 0
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    def set_pools(self, pools: Mapping[PoolKey, CapacitySpec]) -> None:
        """The pools with `capacity:` in the loaded zones (at start and on every reload)."""
        self.pools = dict(pools)
        wanted = {spec.query for spec in self.pools.values()}
        self.samples = {q: s for q, s in self.samples.items() if q in wanted}
        if self.pools and self.settings().url is None:
            names = ", ".join(f"{z}/{p}" for z, p in sorted(self.pools))
            log.warning("pools with capacity: (%s) but no prometheus.url: no shedding", names)
        self.apply()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # never let one bad poll end polling
                log.exception("capacity poll failed")
            await asyncio.sleep(self.settings().interval)

    async def poll_once(self) -> None:
        """One round: every distinct query once, concurrently, each within the timeout."""
        conf = self.settings()
        queries = sorted({spec.query for spec in self.pools.values()})
        if conf.url is not None and queries and self._session is not None:
            results = await asyncio.gather(*(self._query(conf, q) for q in queries))
            now = self.clock()
            for query, (value, error) in zip(queries, results, strict=True):
                old = self.samples.get(query, Sample(None, None))
                if value is not None:
                    self.samples[query] = Sample(value, now)
                elif error == "no data":  # Prometheus answered: there is nothing to go by
                    self.samples[query] = Sample(None, None, error)
                else:  # keep the last good value until it is stale
                    self.samples[query] = Sample(old.value, old.at, error)
        self.polls += 1
        self.apply()

    async def _query(self, conf: PrometheusConfig, query: str) -> tuple[float | None, str]:
        """(load, "") or (None, why) for one PromQL instant query."""
        url = conf.url.rstrip("/") + "/api/v1/query"
        timeout = aiohttp.ClientTimeout(total=conf.timeout)
        assert self._session is not None
        try:
            async with self._session.get(url, params={"query": query}, timeout=timeout) as r:
                body = await r.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return None, f"Prometheus unreachable: {type(exc).__name__} {exc}".strip()
        return one_number(body)

    def apply(self) -> None:
        """Each pool's factor from its query's sample, now; the board bumps what moved."""
        states = {key: self.state(key) for key in self.pools}
        self.board.set_capacity({k: (s.factor, s.note) for k, s in states.items()})

    def state(self, key: PoolKey) -> PoolCapacity:
        spec, conf = self.pools[key], self.settings()
        if conf.url is None:
            return PoolCapacity(None, 1.0, "off", "no prometheus.url configured: no shedding")
        sample = self.samples.get(spec.query)
        if sample is None:
            return PoolCapacity(None, 1.0, "no data", "not polled yet: no shedding")
        if sample.value is None or sample.at is None:
            why = sample.error or "no data"
            return PoolCapacity(None, 1.0, "no data" if why == "no data" else "error", why)
        age = self.clock() - sample.at
        if age > conf.stale_after:
            note = f"load {sample.value:g} is {age:.0f}s old (stale_after {conf.stale_after:g}s)"
            why = f": {sample.error}" if sample.error else ""
            return PoolCapacity(None, 1.0, "stale", f"{note}{why}: no shedding")
        load = sample.value
        factor = capacity_factor(load, spec.low, spec.high)
        if factor >= 1.0:
            words = f"load {load:g} <= low {spec.low:g}: full share"
        elif factor <= 0.0:
            words = f"load {load:g} >= high {spec.high:g}: shed"
        else:
            words = f"load {load:g} between low {spec.low:g} and high {spec.high:g}"
            words += f": weight x {factor:.2f}"
        if sample.error:
            words += f" (last poll failed: {sample.error})"
        return PoolCapacity(load, factor, "error" if sample.error else "ok", words)


def one_number(body: object) -> tuple[float | None, str]:
    """A Prometheus /api/v1/query answer -> (value, "") or (None, why)."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error", "bad answer") if isinstance(body, dict) else "bad answer"
        return None, f"query failed: {error}"
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        pair = result
    elif kind == "vector" and isinstance(result, list):
        if not result:
            return None, "no data"
        if len(result) > 1:
            return None, f"{len(result)} series: the query must give one number (avg, max...)"
        pair = result[0].get("value")
    else:
        return None, f"a {kind} result: the query must give one number"
    try:
        value = float(pair[1])
    except (TypeError, ValueError, IndexError):
        return None, "bad answer"
    if math.isnan(value) or math.isinf(value):
        return None, "no data"
    return value, ""
