"""`geodns webhook`: external-dns's webhook provider protocol in front of the zone API.

external-dns (--provider=webhook) asks GET / for the domain filter, GET /records for what
is there, POST /adjustendpoints to normalize what it wants, POST /records with the
changes. Each change is applied per zone as one PUT with If-Match of the version it was
computed from, every zone checked first with ?dry_run=true, so a change the API refuses
leaves every zone as it was. A refusal (422) answers 400 with the API's problems (retrying
cannot help); 5xx only where a retry can (API unreachable, busy, a race lost 3 times).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from geodns.integrations import endpoints
from geodns.integrations.client import ApiError, ZoneClient, describe, read_token

log = logging.getLogger("geodns.webhook")
MEDIA = "application/external.dns.webhook+json;version=1"
RACES = 3  # If-Match conflicts retried before answering 503


def _reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": MEDIA}
    )


def _error(status: int, message: str, problems: list | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if problems:
        body["problems"] = problems
    return web.json_response(body, status=status)


def accepts(header: str) -> bool:
    """Accept names our media type and version (or anything): else 406, as negotiation."""
    if not header.strip():
        return True
    for item in header.split(","):
        media = item.split(";q=")[0].replace(" ", "").lower()
        if media in ("*/*", "application/*", MEDIA, "application/external.dns.webhook+json"):
            return True
    return False


class Webhook:
    """The provider: zones from the API (or the ones given), changes through it."""

    def __init__(self, client: ZoneClient, zones: list[str] | None = None) -> None:
        self.client, self.only = client, [z.lower().rstrip(".") + "." for z in zones or []]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._negotiate])
        app.router.add_get("/", self.negotiate)
        app.router.add_get("/records", self.records)
        app.router.add_post("/records", self.apply)
        app.router.add_post("/adjustendpoints", self.adjust)
        app.router.add_get("/healthz", self.healthz)
        return app

    @web.middleware
    async def _negotiate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/healthz" and not accepts(request.headers.get("Accept", "")):
            return _error(406, f"this provider speaks {MEDIA}")
        if request.method == "POST":
            ctype = request.headers.get("Content-Type", "").replace(" ", "").lower()
            if not ctype.startswith(("application/external.dns.webhook+json", "application/json")):
                return _error(415, f"send {MEDIA}")
        return await handler(request)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _zones(self) -> list[str]:
        if self.only:
            return self.only
        return await asyncio.to_thread(self.client.zones)

    async def negotiate(self, request: web.Request) -> web.Response:
        try:
            zones = [z.rstrip(".") for z in await self._zones()]
        except ApiError as exc:
            return _error(503, str(exc))
        return _reply({"include": zones, "filters": zones})  # v0.14 spec and later serde

    async def records(self, request: web.Request) -> web.Response:
        try:
            out = []
            for zone in await self._zones():
                doc, _ = await asyncio.to_thread(self.client.get, zone)
                out += endpoints.endpoints(doc, zone) if doc else []
        except ApiError as exc:
            return _error(503 if exc.retryable else 500, str(exc))
        return _reply(out)

    async def adjust(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, list):
            return _error(400, "POST /adjustendpoints takes a list of endpoints")
        return _reply([endpoints.adjust(ep) for ep in body if isinstance(ep, dict)])

    async def apply(self, request: web.Request) -> web.Response:
        changes = await self._body(request)
        if not isinstance(changes, dict):
            return _error(400, "POST /records takes {create, updateOld, updateNew, delete}")
        for _ in range(RACES):
            try:
                await asyncio.to_thread(self._apply, changes)
                return web.Response(status=204)
            except endpoints.BadChange as exc:
                return _error(400, "nothing applied", exc.problems)
            except ApiError as exc:
                if exc.status == 412:
                    continue  # a writer came between our read and our write: again
                log.warning("changes refused: %s", describe(exc.status, exc.body))
                status = 503 if exc.retryable else 400
                return _error(status, f"nothing applied: {exc}", exc.problems)
        return _error(503, "the zone kept moving under us; try again")

    async def _body(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.read() or b"null")
        except ValueError:
            return None

    def _apply(self, changes: dict) -> None:
        """Each zone's new document, all checked by dry_run, then written with If-Match."""
        zones = sorted(self.only or self.client.zones(), key=len, reverse=True)
        split: dict[str, dict[str, list]] = {}
        for section in ("create", "updateOld", "updateNew", "delete"):
            for ep in changes.get(section) or []:
                name = str(ep.get("dnsName", "")).lower().rstrip(".") + "."
                zone = next((z for z in zones if name == z or name.endswith("." + z)), None)
                if zone is None:
                    problem = {"path": section, "message": f"{name} is in no zone served here"}
                    raise endpoints.BadChange([problem])
                split.setdefault(zone, {}).setdefault(section, []).append(ep)
        planned = []
        for zone, part in split.items():
            doc, version = self.client.get(zone)
            if doc is None:
                raise ApiError(404, {"error": f"no zone {zone}"})
            new = endpoints.apply(doc, zone, part)
            if new != doc:
                self.client.put(zone, new, if_match=version, dry_run=True)
                planned.append((zone, new, version))
        for zone, new, version in planned:
            self.client.put(zone, new, if_match=version)


def main(args: argparse.Namespace) -> int:
    from geodns.config import parse_hostport

    host, port = parse_hostport(args.listen, 8888)
    client = ZoneClient(args.api, read_token(args.token_file), client="external-dns")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    web.run_app(Webhook(client, args.zone).app(), host=host, port=port, print=None)
    return 0
