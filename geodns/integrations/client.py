"""A small client of the zone write API (/api/v1/zones) for the integrations.

Plain urllib and JSON, so the octoDNS and Pulumi providers need nothing beyond geodns
itself. A refusal keeps the API's status and its `problems` (422), which each tool shows
its user as they came: the path in the zone document and what is wrong there.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any


class ApiError(Exception):
    """The API said no (status, body), or could not be reached (status 0)."""

    def __init__(self, status: int, body: Any, what: str = "") -> None:
        self.status, self.body = status, body
        self.problems: list[dict] = body.get("problems", []) if isinstance(body, dict) else []
        super().__init__(f"{what}: {describe(status, body)}" if what else describe(status, body))

    @property
    def retryable(self) -> bool:
        """Worth trying again later: unreachable, busy or a race (409/412), 5xx."""
        return self.status in (0, 409, 412, 429) or self.status >= 500


def describe(status: int, body: Any) -> str:
    """One readable line: the status and the error, then each problem as `path: message`."""
    if not isinstance(body, dict):
        return f"HTTP {status}: {body}"
    lines = [f"HTTP {status}: {body.get('error', 'refused')}"]
    for problem in body.get("problems", []):
        lines.append(f"  {problem.get('path') or '(document)'}: {problem.get('message')}")
    return "\n".join(lines)


def read_token(path: str | None) -> str | None:
    return None if path is None else Path(path).read_text(encoding="utf-8").strip()


class ZoneClient:
    """GET/PUT/PATCH/DELETE of zone documents; `url` is the API's base (http://host:8053)."""

    def __init__(
        self, url: str, token: str | None = None, client: str = "api", timeout: float = 30.0
    ) -> None:
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout
        self.client = client  # X-Geodns-Client: the history's "via" (webhook, octodns...)

    def _call(
        self, method: str, path: str, body: Any = None, headers: dict | None = None
    ) -> tuple[int, Any, dict]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("X-Geodns-Client", self.client)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, _json(resp.read()), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read()), dict(exc.headers)
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(0, {"error": f"cannot reach {self.url}: {exc}"}) from exc

    @staticmethod
    def _path(zone: str, tail: str = "") -> str:
        name = zone if zone.endswith(".") else zone + "."
        return f"/api/v1/zones/{urllib.parse.quote(name.lower())}{tail}"

    def zones(self) -> list[str]:
        status, body, _ = self._call("GET", "/api/v1/zones")
        if status != 200:
            raise ApiError(status, body, "list zones")
        return [z["zone"] for z in body.get("zones", [])]

    def get(self, zone: str) -> tuple[dict | None, str | None]:
        """(document, version) or (None, None) when there is no such zone."""
        status, body, headers = self._call("GET", self._path(zone))
        if status == 404:
            return None, None
        if status != 200:
            raise ApiError(status, body, f"read {zone}")
        return body, (headers.get("ETag") or "").strip('"') or None

    def put(self, zone: str, doc: dict, if_match: str | None = None, dry_run: bool = False) -> dict:
        headers = {"If-Match": f'"{if_match}"'} if if_match else None
        query = "?dry_run=true" if dry_run else ""
        status, body, _ = self._call("PUT", self._path(zone, query), doc, headers)
        if status != 200:
            raise ApiError(status, body, f"write {zone}")
        return body

    def patch(self, zone: str, body: dict, dry_run: bool = False) -> dict:
        query = "?dry_run=true" if dry_run else ""
        status, out, _ = self._call("PATCH", self._path(zone, query), body)
        if status != 200:
            raise ApiError(status, out, f"patch {zone}")
        return out

    def delete(self, zone: str, if_match: str | None = None) -> None:
        headers = {"If-Match": f'"{if_match}"'} if if_match else None
        status, body, _ = self._call("DELETE", self._path(zone), headers=headers)
        if status not in (200, 404):
            raise ApiError(status, body, f"delete {zone}")

    def history(self, zone: str) -> list[dict]:
        status, body, _ = self._call("GET", self._path(zone, "/history"))
        if status != 200:
            raise ApiError(status, body, f"history of {zone}")
        return body["versions"]


def _json(data: bytes) -> Any:
    try:
        return json.loads(data or b"null")
    except ValueError:
        return data.decode(errors="replace")
