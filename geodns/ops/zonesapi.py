"""The zone content routes: GET/PUT/PATCH/DELETE /api/v1/zones/{zone}, history, rollback.

Writes need the write token (http.write_token_file, else http.token_file); reading zone
documents needs a token only when http.read_token_file is set (the write token reads too).
Bodies over http.max_body get 413 with the problem, like every other refusal, as JSON.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, Metric

from geodns.config import HttpConfig
from geodns.ops.api import read_token
from geodns.ops.zonewrite import Outcome, ZoneService
from geodns.zones import document, patch

PREFIX = "/api/v1/zones"


class Tokens:
    """The bearer tokens of the zone routes, each with a name for the audit line."""

    def __init__(self, write: tuple[str, str] | None, read: tuple[str, str] | None) -> None:
        self.write, self.read = write, read

    @classmethod
    def from_config(cls, http: HttpConfig) -> Tokens:
        """http.write_token_file (else token_file) and http.read_token_file, read once."""
        write_file = http.write_token_file or http.token_file
        write, read = read_token(write_file), read_token(http.read_token_file)
        return cls(cls.named(write_file, write), cls.named(http.read_token_file, read))

    @staticmethod
    def named(path: str | None, token: str | None) -> tuple[str, str] | None:
        return None if token is None else (token, Path(path or "token").name)

    def who(self, request: web.Request, need: str) -> str | web.Response:
        """The caller's name for the audit log, or the refusal."""
        allowed = [self.write] if need == "write" else [self.write, self.read]
        peer = request.remote or "?"
        if need == "read" and self.read is None:
            return peer
        if need == "write" and self.write is None:
            return _error(403, "write endpoints are disabled: set http.token_file")
        given = request.headers.get("Authorization", "").encode()
        for entry in allowed:
            if entry is not None and hmac.compare_digest(given, f"Bearer {entry[0]}".encode()):
                return f"{entry[1]}@{peer}"
        return _error(401, "missing or wrong bearer token")


def _error(status: int, message: str, problems: list | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if problems is not None:
        body["problems"] = problems
    return web.json_response(body, status=status)


def _reply(outcome: Outcome) -> web.Response:
    return web.json_response(outcome.body, status=outcome.status, headers=outcome.headers)


def mount(
    service: ZoneService, tokens: Tokens, max_body: int, web_app: web.Application, registry: Any
) -> None:
    """Add the zone routes and their metrics (api.build calls this once); JSON 413 for
    oversized bodies (aiohttp stops reading at client_max_size, set to http.max_body)."""
    registry.register(_Collector(service))

    @web.middleware
    async def too_big(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            if not request.path.startswith(PREFIX):
                raise
            message = f"the body is larger than http.max_body ({max_body} bytes)"
            return _error(413, "nothing applied", [{"path": "", "message": message}])

    web_app.middlewares.append(too_big)
    routes = _Routes(service, tokens)
    web_app.router.add_get(PREFIX, routes.listing)
    web_app.router.add_get(PREFIX + "/{zone}", routes.get)
    web_app.router.add_put(PREFIX + "/{zone}", routes.put)
    web_app.router.add_patch(PREFIX + "/{zone}", routes.patch)
    web_app.router.add_delete(PREFIX + "/{zone}", routes.delete)
    web_app.router.add_get(PREFIX + "/{zone}/history", routes.history)
    web_app.router.add_post(PREFIX + "/{zone}/rollback", routes.rollback)


class _Routes:
    def __init__(self, service: ZoneService, tokens: Tokens) -> None:
        self.service, self.tokens = service, tokens

    async def listing(self, request: web.Request) -> web.Response:
        who = self.tokens.who(request, "read")
        if isinstance(who, web.Response):
            return who
        return web.json_response({"zones": self.service.backend.listing()})

    async def get(self, request: web.Request) -> web.Response:
        who = self.tokens.who(request, "read")
        if isinstance(who, web.Response):
            return who
        zone = document.zone_key(request.match_info["zone"])
        cur = await self.service.read(zone)
        if cur.doc is None:
            return _error(404, f"no zone {zone}")
        headers = {"ETag": f'"{cur.version}"'}
        if any(t in request.headers.get("Accept", "") for t in document.YAML_TYPES):
            text = yaml.safe_dump(cur.doc, sort_keys=False, allow_unicode=True)
            return web.Response(text=text, content_type="application/yaml", headers=headers)
        return web.json_response(cur.doc, headers=headers)

    async def _write(self, request: web.Request, make: Any, what: str) -> web.Response:
        who = self.tokens.who(request, "write")
        if isinstance(who, web.Response):
            return who
        who += _via(request)
        zone = document.zone_key(request.match_info["zone"])
        text = None
        if request.method in ("PUT", "PATCH"):
            raw = await request.read()
            ctype, loop = request.headers.get("Content-Type", ""), asyncio.get_running_loop()
            try:  # in a thread: a 4 MiB body takes a while to parse
                body = await loop.run_in_executor(None, document.parse_body, raw, ctype)
            except document.DocumentError as exc:
                return _error(400, "nothing applied", exc.problems)
            if request.method == "PUT" and isinstance(body, dict):
                ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
                text = raw.decode() if ctype in document.YAML_TYPES else None  # its comments
            change = make(body, zone)
        else:
            change = make(None, zone)
        outcome = await self.service.write(
            zone,
            change,
            who,
            if_match=request.headers.get("If-Match"),
            dry_run=request.query.get("dry_run", "").lower() in ("1", "true", "yes"),
            text=text,
            what=what,
        )
        return _reply(outcome)

    async def put(self, request: web.Request) -> web.Response:
        return await self._write(request, _whole, "PUT")

    async def patch(self, request: web.Request) -> web.Response:
        return await self._write(request, _patched, "PATCH")

    async def delete(self, request: web.Request) -> web.Response:
        return await self._write(request, lambda body, zone: lambda cur: (None, []), "DELETE")

    async def history(self, request: web.Request) -> web.Response:
        who = self.tokens.who(request, "read")
        if isinstance(who, web.Response):
            return who
        zone = document.zone_key(request.match_info["zone"])
        versions = await self.service.history(zone)
        if not versions:
            return _error(404, f"no history for zone {zone}")
        return web.json_response({"zone": zone, "versions": versions})

    async def rollback(self, request: web.Request) -> web.Response:
        who = self.tokens.who(request, "write")
        if isinstance(who, web.Response):
            return who
        zone = document.zone_key(request.match_info["zone"])
        to = request.query.get("to")
        if not to:
            return _error(400, "rollback needs ?to=VERSION (see .../history)")
        return _reply(await self.service.rollback(zone, to, who))


_CLIENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}")


def _via(request: web.Request) -> str:
    """` via octodns`: the tool that wrote, from X-Geodns-Client (integrations/client.py),
    so the history says which integration made a change under the shared write token."""
    client = request.headers.get("X-Geodns-Client", "")
    return f" via {client}" if _CLIENT.fullmatch(client) else ""


def _whole(body: Any, zone: str) -> Any:
    def change(cur: dict | None) -> tuple[dict | None, list[dict]]:
        if not isinstance(body, dict):
            return None, [{"path": "", "message": "a zone document must be a JSON object"}]
        return body, []

    return change


def _patched(body: Any, zone: str) -> Any:
    def change(cur: dict | None) -> tuple[dict | None, list[dict]]:
        if cur is None:
            return None, []  # no zone: 404 (create it with PUT)
        return patch.apply(cur, body, zone)

    return change


class _Collector:
    """geodns_zone_writes_total{zone,result} (result: ok, invalid, conflict, unavailable,
    error, dry_run; a zone we do not hold counts as `(none)`)."""

    def __init__(self, service: ZoneService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "geodns_zone_writes", "Zone writes through the API", labels=["zone", "result"]
        )
        for (zone, result), count in list(self.service.writes.items()):
            family.add_metric([zone, result], count)
        yield family
