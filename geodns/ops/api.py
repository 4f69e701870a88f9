"""The HTTP API (aiohttp): /metrics /healthz /readyz /api/v1/status, explain, drain."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web

from geodns.errors import ConfigError, Problem, Where
from geodns.ops import fleetapi, metrics, rttapi
from geodns.ops.explain import explain
from geodns.ops.sources import Sources

log = logging.getLogger("geodns.api")


def read_token(path: str | None) -> str | None:
    """The bearer token for write endpoints; no file configured means writes are disabled.

    An unreadable or empty file is a ConfigError naming it: `serve` and `check` report it
    as they do any config problem (one line, exit 1), never as a traceback, and an empty
    token must not quietly mean "no token".
    """
    if path is None:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([Problem(Where(path), f"cannot read http.token_file: {why}")]) from exc
    if not token:
        raise ConfigError([Problem(Where(path), "http.token_file is empty")])
    return token


def add_probes(routes: web.RouteTableDef, app: Sources) -> None:
    """/healthz and /readyz: on the API, and alone on `http.probe_listen` (build_probes)."""

    @routes.get("/healthz")
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    @routes.get("/readyz")
    async def readyz(request: web.Request) -> web.Response:
        if not app.ready:
            return web.Response(status=503, text="not ready: sockets or first health round\n")
        if not app.table.zones:  # serving, but every name would be REFUSED
            return web.Response(status=503, text="not ready: no zone loaded\n")
        return web.Response(text="ready\n")


def build_probes(app: Sources) -> web.Application:
    """The probes' own application: nothing else answers there, so nothing else is exposed."""
    routes = web.RouteTableDef()
    add_probes(routes, app)
    probes = web.Application()
    probes.add_routes(routes)
    return probes


def build(
    app: Sources, token: str | None, max_body: int = 4 << 20, mounts: Sequence[Callable] = ()
) -> web.Application:
    """The API; each of `mounts(web_app, registry)` adds routes of its own (zone content)."""
    registry, collector = metrics.registry_for(app)
    routes = web.RouteTableDef()

    @routes.get("/metrics")
    async def get_metrics(request: web.Request) -> web.Response:
        collector.counters = await app.counters()  # several workers: ask each of them
        body = metrics.render(registry)
        return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})

    add_probes(routes, app)

    @routes.get("/api/v1/status")
    async def status(request: web.Request) -> web.Response:
        await app.counters()  # workers' CPU time and queries, fresh
        return web.json_response(status_report(app))

    @routes.get("/api/v1/explain")
    async def get_explain(request: web.Request) -> web.Response:
        q = request.query
        if "name" not in q or "client" not in q:
            return web.json_response({"error": "name and client are required"}, status=400)
        try:
            report = explain(app.handler, q["name"], q.get("type", "A"), q["client"], q.get("ecs"))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        report["health"] = fleetapi.health_words(app, q["name"], report["pool"])
        return web.json_response(report)

    @routes.post("/api/v1/pools/{zone}/{pool}/members/{address}/{action}")
    async def drain(request: web.Request) -> web.Response:
        if token is None:
            return web.json_response(
                {"error": "write endpoints are disabled: set http.token_file"}, status=403
            )
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        m = request.match_info
        action = m["action"]
        if action not in ("drain", "undrain"):
            return web.json_response({"error": f"unknown action {action!r}"}, status=404)
        zone = m["zone"] if m["zone"].endswith(".") else m["zone"] + "."
        member = (zone, m["pool"], m["address"])
        return await fleetapi.drain(app, member, action == "drain", request)

    @routes.get("/api/v1/fleet")
    async def fleet(request: web.Request) -> web.Response:
        return web.json_response(fleetapi.fleet_report(app))

    @routes.get("/api/v1/drains")
    async def drains(request: web.Request) -> web.Response:
        return web.json_response(fleetapi.drains_report(app))

    web_app = web.Application(client_max_size=max_body)  # http.max_body: 413 beyond
    web_app.add_routes(routes)
    rttapi.register(web_app, app, token)  # POST /api/v1/rtt/{zone} (steering)
    for mount in mounts:
        mount(web_app, registry)
    return web_app


def status_report(app: Sources) -> dict:
    zones = []
    for zt in app.table.zones.values():
        pools = []
        for pool in zt.zone.pools.values():
            members = []
            for member in pool.members():
                st = app.board.status(member)
                members.append(
                    {
                        "address": member[2],
                        "up": app.board.is_up(member),
                        # the word /metrics uses (geodns_health_member_state); `probe`
                        # is our own check's verdict, before drains and the fleet's quorum
                        "state": metrics.member_state(st),
                        "probe": st.state if st and st.checked else None,
                        "drained": st.drained if st else False,
                        "last_ok": st.last_ok if st else None,
                        "last_detail": st.last_detail if st else "",
                        "last_checked": st.last_checked if st else None,
                    }
                )
            pools.append({"name": pool.name, "members": members})
        zones.append(
            {
                "zone": zt.zone.origin_text,
                "serial": zt.zone.serial,
                "file": zt.zone.source,
                "pools": pools,
            }
        )
    return {
        "ready": app.ready and bool(app.table.zones),
        "zones": zones,
        "reloads": vars(app.reloads),
        "workers": app.worker_status(),
        "fleet": app.fleet.summary(),
        "steering": rttapi.status(app),
        "geoip": app.locator.status(),
    }
