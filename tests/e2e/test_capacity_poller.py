"""The capacity poller against a real local HTTP server speaking Prometheus's query API:
one request per distinct query, the timeout, and what errors and stale loads mean."""

from __future__ import annotations

import asyncio

from aiohttp import web

from geodns.health.board import HealthBoard
from geodns.health.steering import PrometheusConfig
from geodns.model import CapacitySpec
from geodns.steer.capacity import CapacityPoller

Q_A, Q_C = 'max(gpu_util{cluster="a"})', "sum(queue_depth) / 100"


class FakePrometheus:
    """/api/v1/query answering `loads[query]` (None: an empty vector); `hang` stalls."""

    def __init__(self) -> None:
        self.loads: dict[str, float | None] = {}
        self.asked: list[str] = []
        self.hang = False

    async def query(self, request: web.Request) -> web.Response:
        q = request.query["query"]
        self.asked.append(q)
        if self.hang:
            await asyncio.sleep(1.5)
        value = self.loads.get(q)
        result = [] if value is None else [{"metric": {}, "value": [0, str(value)]}]
        data = {"resultType": "vector", "result": result}
        return web.json_response({"status": "success", "data": data})


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def scenario() -> None:
    prom = FakePrometheus()
    app = web.Application()
    app.router.add_get("/api/v1/query", prom.query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    settings = PrometheusConfig(f"http://127.0.0.1:{port}", 1.0, 0.3, 30.0)
    board, clock = HealthBoard(), Clock()
    poller = CapacityPoller(board, lambda: settings, clock)
    poller._session = __import__("aiohttp").ClientSession()
    a, b, c = ("z.", "a"), ("z.", "b"), ("z.", "c")
    poller.set_pools(
        {a: CapacitySpec(Q_A, 0.7, 0.9), b: CapacitySpec(Q_A, 0.7, 0.9), c: CapacitySpec(Q_C, 0, 1)}
    )
    try:
        prom.loads = {Q_A: 0.95, Q_C: 0.5}
        await poller.poll_once()
        assert sorted(prom.asked) == sorted([Q_A, Q_C])  # a and b share one query
        assert board.capacity(a) == board.capacity(b) == 0.0 and board.capacity(c) == 0.5
        prom.hang = True  # answers nothing within the timeout: the last load holds...
        loop = asyncio.get_running_loop()
        start = loop.time()
        await poller.poll_once()
        assert loop.time() - start < 2.0
        state = poller.state(a)
        assert (state.status, state.factor) == ("error", 0.0) and "last poll failed" in state.note
        clock.now += 31  # ... until it is older than stale_after: then no shedding
        poller.apply()
        state = poller.state(a)
        assert (state.status, state.factor, board.capacity(a)) == ("stale", 1.0, 1.0)
        assert "no shedding" in state.note
        prom.hang, prom.loads = False, {Q_A: 0.8, Q_C: None}  # an empty answer: no data
        await poller.poll_once()
        assert board.capacity(a) == 0.5 and poller.state(a).status == "ok"
        assert poller.state(c).status == "no data" and board.capacity(c) == 1.0
    finally:
        await poller._session.close()
        await runner.cleanup()


def test_poller_queries_once_per_expression_with_timeout_and_staleness() -> None:
    asyncio.run(scenario())
