"""Steering on the HTTP surface: POST /api/v1/rtt/{zone}, capacity in status, its metrics."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily, Metric

from geodns.ops.sources import Sources


def register(web_app: web.Application, app: Sources, token: str | None) -> None:
    """Add the RTT route to the API (api.build calls this once)."""

    async def post_rtt(request: web.Request) -> web.Response:
        return await _post(app, token, request)

    web_app.router.add_post("/api/v1/rtt/{zone}", post_rtt)


async def _post(app: Sources, token: str | None, request: web.Request) -> web.Response:
    """Measurements `[{"client": net | asn:N | country:XX, "pool", "rtt_ms"}]` for one zone,
    with the bearer token the drain API takes; answered once every worker has them."""
    if token is None:
        return _error(403, "write endpoints are disabled: set http.token_file")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return _error(401, "missing or wrong bearer token")
    zone = request.match_info["zone"].lower()
    zone = zone if zone.endswith(".") else zone + "."
    found = [zt.zone for zt in app.table.zones.values() if zt.zone.origin_text.lower() == zone]
    if not found:
        return _error(404, f"no zone {zone}")
    try:
        items = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"the body is not JSON: {exc}")
    count, problems = app.steer.rtt.post(found[0].origin_text, items, found[0].pools)
    if problems:
        return web.json_response({"error": "nothing applied", "problems": problems}, status=400)
    synced = await app.health_synced()
    shared = await app.fleet.share_rtt(found[0].origin_text, items)  # every other instance
    body = {"zone": found[0].origin_text, "accepted": count, "synced": synced, "shared": shared}
    return web.json_response(body)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def status(app: Sources) -> dict[str, Any]:
    """`steering` in /api/v1/status: each capacity pool's load, factor and why; RTT counts."""
    poller = app.steer.capacity
    pools = []
    for key in sorted(poller.pools):
        st = poller.state(key)
        pools.append(
            {
                "zone": key[0],
                "pool": key[1],
                "query": poller.pools[key].query,
                "load": st.load,
                "factor": st.factor,
                "status": st.status,
                "why": st.note,
            }
        )
    return {
        "prometheus": poller.settings().url,
        "capacity": pools,
        "rtt": app.steer.rtt.status(),
    }


def families(app: Sources) -> Iterator[Metric]:
    """geodns_pool_load{zone,pool} (pools with a usable load) and
    geodns_pool_capacity_factor{zone,pool} (every pool with `capacity:`)."""
    steer = app.steer
    load = GaugeMetricFamily(
        "geodns_pool_load", "The load a pool's capacity query gave", labels=["zone", "pool"]
    )
    factor = GaugeMetricFamily(
        "geodns_pool_capacity_factor",
        "Share of its weight a pool takes: 1 full, 0 shed",
        labels=["zone", "pool"],
    )
    for key in sorted(steer.capacity.pools):
        st = steer.capacity.state(key)
        if st.load is not None:
            load.add_metric(list(key), st.load)
        factor.add_metric(list(key), st.factor)
    yield load
    yield factor
