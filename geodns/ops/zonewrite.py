"""Zone writes, one way for every source: check, compare versions, commit whole, say so.

A write reads the zone's current version, builds the new document, has it parsed and
compiled as `geodns check` would, and only then hands it to the content backend (files:
zones/store.py via FilesBackend; fleet: fleet/content.py) to commit whole. Writes are
serialized by the backend's lock (files: the app's reload lock, so a write never races a
reload); a backend's compare-and-set refusing means another writer came first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from geodns.model import Zone
from geodns.zones import document, patch
from geodns.zones.store import Version

log = logging.getLogger("geodns.audit")
TRIES = 20  # compare-and-set rounds before a write without If-Match gives up (busy fleet)

Change = Callable[[dict | None], tuple[dict | None, list[dict]]]
Preview = Callable[[dict | None, dict | None], dict]  # (old doc, new doc) -> dry_run body


class Conflict(Exception):
    """The zone moved on between our read and our commit (compare-and-set refused)."""


class Refused(Exception):
    """The backend cannot take this write; `status` and the reason go back to the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Current:
    """A zone as a writer finds it; `token` is what the backend's compare-and-set needs."""

    doc: dict | None
    version: str | int | None
    serial: int | None
    zone: Zone | None = None  # the compiled zone serving now (dry_run's routing diff)
    token: Any = None


class Backend(Protocol):
    lock: Any

    def unwritable(self) -> str | None: ...

    async def current(self, zone: str) -> Current: ...

    async def commit(
        self, zone: str, cur: Current, doc: dict | None, text: str, new: Zone | None, meta: Version
    ) -> tuple[str | int, int | None]: ...

    async def history(self, zone: str) -> list[Version]: ...

    async def settle(self, zone: str, version: str | int) -> bool: ...

    def listing(self) -> list[dict]: ...


@dataclass
class Outcome:
    status: int
    body: dict
    headers: dict | None = None


class ZoneService:
    """What the API's zone routes call; counts writes by zone and result."""

    def __init__(
        self,
        backend: Backend,
        preview: Preview | None = None,
        key_dir: str | None = None,
    ) -> None:
        self.backend, self.key_dir = backend, key_dir  # dnssec.key_dir, for the check
        self.preview = preview or _records_only  # the app injects geodns.zonediff
        self.writes: dict[tuple[str, str], int] = {}

    async def write(
        self,
        zone: str,
        change: Change,
        who: str,
        *,
        if_match: str | None = None,
        dry_run: bool = False,
        text: str | None = None,
        what: str = "",
    ) -> Outcome:
        """Apply `change` to the zone's document; 200 {version, serial} or why not."""
        reason = self.backend.unwritable()
        if reason is not None:
            return self._count(zone, False, "unavailable", Outcome(503, {"error": reason}))
        for _ in range(TRIES):
            try:
                return await self._attempt(zone, change, who, if_match, dry_run, text, what)
            except Conflict:
                if if_match is not None:
                    body = {"error": f"zone {zone} moved on; read it again (If-Match)"}
                    return self._count(zone, True, "conflict", Outcome(412, body))
            except Refused as exc:
                outcome = Outcome(exc.status, {"error": str(exc)})
                result = "unavailable" if exc.status == 503 else "error"
                return self._count(zone, False, result, outcome)
        body = {"error": f"zone {zone}: {TRIES} writers in a row came first; try again"}
        return self._count(zone, True, "conflict", Outcome(409, body))

    async def _attempt(self, zone, change, who, if_match, dry_run, text, what) -> Outcome:
        async with self.backend.lock:
            cur = await self.backend.current(zone)
            known = cur.doc is not None
            if not _matches(if_match, cur):
                body = {"error": f"zone {zone} is at version {cur.version}, not {if_match}"}
                return self._count(zone, known, "conflict", Outcome(412, body))
            loop = asyncio.get_running_loop()  # parse and compile: a big zone takes seconds
            doc, text, new, problems = await loop.run_in_executor(
                None, _prepare, change, cur.doc, text, zone, self.key_dir
            )
            if not problems and doc is None and not known:
                return self._count(zone, False, "error", Outcome(404, {"error": f"no zone {zone}"}))
            if problems:
                return self._count(zone, known, "invalid", Outcome(422, {"problems": problems}))
            if dry_run:
                body = await loop.run_in_executor(None, self._preview, cur, doc, new)
                return self._count(zone, known, "dry_run", Outcome(200, body))
            said = await loop.run_in_executor(None, patch.summary, cur.doc, doc)
            summary = (what + ": " if what else "") + said
            meta = Version(0, None, time.time(), who, summary)
            version, serial = await self.backend.commit(zone, cur, doc, text or "", new, meta)
        await self.backend.settle(zone, version)  # served here before we say so (fleet)
        log.info(
            "zone write by %s: %s version %s -> %s serial %s: %s",
            who,
            zone,
            cur.version,
            version,
            serial,
            summary,
        )
        body = {"zone": zone, "version": version, "serial": serial}
        return self._count(zone, True, "ok", Outcome(200, body, {"ETag": f'"{version}"'}))

    def _preview(self, cur: Current, doc: dict | None, new: Zone | None) -> dict:
        """The dry run's diff; a diff that cannot be made (the stored zone no longer loads
        under this version) still shows the record diff and says why routing is missing."""
        try:
            return self.preview(cur.doc, doc)
        except Exception as exc:  # a preview must never turn a valid dry run into a 500
            log.warning("dry run of %s: no routing diff: %s", new and new.origin_text, exc)
            return {**_records_only(cur.doc, doc), "routing_error": str(exc)}

    def _count(self, zone: str, known: bool, result: str, outcome: Outcome) -> Outcome:
        """zone_writes_total{zone,result}: unknown zones count under `(none)` (bounded)."""
        key = (zone if known else "(none)", result)
        self.writes[key] = self.writes.get(key, 0) + 1
        if result not in ("ok", "dry_run"):
            log.info("zone write refused: %s %s (%d)", zone, result, outcome.status)
        return outcome

    async def read(self, zone: str) -> Current:
        return await self.backend.current(zone)

    async def history(self, zone: str) -> list[dict]:
        return [v.public() for v in await self.backend.history(zone)]

    async def rollback(self, zone: str, to: str, who: str) -> Outcome:
        """A new version equal to an old one (its serial above every earlier one)."""
        found = next((v for v in await self.backend.history(zone) if str(v.version) == to), None)
        if found is None:
            body = {"error": f"zone {zone} has no version {to} in its history"}
            return Outcome(404, body)
        old = document.from_text(found.text) if found.text is not None else None

        def change(_: dict | None) -> tuple[dict | None, list[dict]]:
            return old, []

        return await self.write(zone, change, who, text=found.text, what=f"rollback to {to}")


def _prepare(
    change: Change, old: dict | None, text: str | None, zone: str, key_dir: str | None
) -> tuple[dict | None, str | None, Zone | None, list[dict]]:
    """(new document, its text, the compiled zone, problems): the work of a write that
    costs, run in a thread."""
    doc, problems = change(old)
    if problems or doc is None:
        return doc, text, None, problems
    text = text if text is not None else document.to_text(doc)
    new, problems = document.check(text, zone, key_dir)
    return doc, text, new, problems


def _matches(if_match: str | None, cur: Current) -> bool:
    """RFC 9110 If-Match: absent, `*` (the zone exists) or one of the listed versions."""
    if if_match is None:
        return True
    if if_match.strip() == "*":
        return cur.doc is not None
    tags = [t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")]
    return cur.doc is not None and str(cur.version) in tags


def _records_only(old: dict | None, new: dict | None) -> dict:
    """dry_run without the routing diff (a service made without the app's preview)."""
    return {"records": patch.record_diff(old, new), "routing": []}
