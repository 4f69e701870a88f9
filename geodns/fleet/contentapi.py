"""Fleet mode behind the zone API: read, compare-and-set, history, from the zones bucket.

A write reads the zone's newest entry, and commits with the bucket's compare-and-set on
that revision: of two writers on the same version exactly one gets in, the other hears
412 (If-Match) or starts again on the newer version. Off the bus, writes get 503 rather
than fork the truth; reads answer from the versions this instance serves.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats.errors
import nats.js.errors

from geodns.fleet.content import WRONG_LAST, ContentSession, Entry, key_of
from geodns.fleet.contentstate import LocalCopies, serial_for
from geodns.fleet.seal import Rejected
from geodns.model import Zone
from geodns.ops.zonewrite import Conflict, Current, Refused
from geodns.zones import document
from geodns.zones.store import Version

log = logging.getLogger("geodns.fleet")
APPLY_WAIT = 5.0  # how long a writer waits for this instance to serve what it wrote


class FleetBackend:
    """The ZoneService backend of `zones.source: fleet`."""

    def __init__(self, session: ContentSession) -> None:
        self.session = session
        self.lock = session.lock

    def unwritable(self) -> str | None:
        if self.session.kv is None:
            return "not on the fleet bus: zone writes are refused until it is back (503)"
        return None

    def _served(self, zone: str) -> Zone | None:
        table = self.session.table()
        return next(
            (zt.zone for zt in table.zones.values() if zt.zone.origin_text.lower() == zone), None
        )

    async def current(self, zone: str) -> Current:
        served = self._served(zone)
        kv = self.session.kv
        if kv is None:
            held = self.session.local.held.get(zone)
            if held is None:
                return Current(None, None, None, served)
            return Current(held["document"], held["version"], held["serial"], served)
        try:
            got = await kv.get(key_of(zone))
            entry = await self._newest_valid(kv, zone, got)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return Current(None, None, None, served, None)
        except (nats.errors.Error, TimeoutError) as exc:
            raise Refused(503, f"the fleet bus did not answer ({exc}); nothing written") from exc
        top = max(entry.serial or 0, served.serial if served is not None else 0) or None
        doc = entry.document
        return Current(doc, entry.revision if doc is not None else None, top, served, entry)

    async def _newest_valid(self, kv: Any, zone: str, got: Any) -> Entry:
        """The newest entry when it is sound (sealed, newer than what we serve) and holds a
        zone that loads here; else (a forgery, a replay, a buggy writer, another version of
        geodns) the version this instance serves, under the newest's revision: the next
        write replaces what could not be served."""
        seal, held = self.session.seal, self.session.local.held.get(zone)
        if held is not None and held["version"] == got.revision:
            return self.session.local.entry(zone, held)  # checked when it was applied
        over = None if held is None else LocalCopies.entry(zone, held)
        try:  # a forgery, junk, a replay or a time from the future is not built on
            entry: Entry | None = seal.vet(got.key, got.revision, got.value, over)
        except Rejected:
            entry = None
        if entry is not None and entry.document is not None:
            text = document.to_text(entry.document)
            loop = asyncio.get_running_loop()
            compiled, _ = await loop.run_in_executor(None, document.check, text, zone)
            entry = entry if compiled is not None else None
        if entry is not None:
            seal.hlc.observe(entry.at)  # what we write next is dated after it
            return entry
        log.warning("zones: the newest entry of %s is not one to serve; writing over it", zone)
        return Entry(got.revision, held or {"document": None, "serial": None})

    async def commit(
        self, zone: str, cur: Current, doc: dict | None, text: str, new: Zone | None, meta: Version
    ) -> tuple[str | int, int | None]:
        kv = self.session.kv
        if kv is None:
            raise Refused(503, "not on the fleet bus: nothing written")
        top = cur.serial
        rollback = meta.summary.startswith("rollback")
        serial = None if new is None else serial_for(new, top, False if rollback else None)
        record = {
            "document": doc,
            "serial": serial if serial is not None else top,
            "who": meta.who,
            "time": meta.time,
            "summary": meta.summary,
        }
        body, at = self.session.seal.encode(key_of(zone), record)
        try:
            if cur.token is None:
                revision = await kv.create(key_of(zone), body)
            else:
                revision = await kv.update(key_of(zone), body, last=cur.token.revision)
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise Conflict() from exc
        except nats.js.errors.APIError as exc:
            if exc.err_code in WRONG_LAST:
                raise Conflict() from exc
            raise Refused(503, f"the fleet bus refused the write: {exc}") from exc
        except (nats.errors.Error, TimeoutError) as exc:
            message = f"the fleet bus did not confirm ({exc}): read the zone to see if it landed"
            raise Refused(503, message) from exc
        entry = Entry(revision, record, self.session.instance, at)
        if self.session.latest.get(zone, entry).revision <= revision:
            self.session.latest[zone] = entry
        self.session._dirty.set()
        return revision, record["serial"]

    async def settle(self, zone: str, version: str | int) -> bool:
        """Wait (outside the write lock) until this instance serves what was written."""
        return await self.session.applied.wait(zone, int(version), APPLY_WAIT)

    async def history(self, zone: str) -> list[Version]:
        kv = self.session.kv
        if kv is None:
            held = self.session.local.held.get(zone)
            if held is None:
                return []
            text = document.to_text(held["document"])
            return [Version(held["version"], held["serial"], 0.0, "?", "(off the bus)", text)]
        try:
            entries = await kv.history(key_of(zone))
        except nats.js.errors.NoKeysError:
            return []
        out = []
        for entry in self.session.seal.sound(key_of(zone), entries):  # no forgery, no replay
            rec, doc = entry.record, entry.document
            text = document.to_text(doc) if doc is not None else None
            when = float(rec.get("time") or 0.0)
            who, summary = rec.get("who", "?"), rec.get("summary", "")
            out.append(Version(entry.revision, entry.serial, when, who, summary, text))
        return out

    def listing(self) -> list[dict]:
        """The zones this instance serves: the version its last reload applied."""
        out = []
        applied = self.session.applied.serving
        for zone, held in sorted(self.session.local.held.items()):
            served = self._served(zone)
            serial = served.serial if served is not None else held["serial"]
            out.append({"zone": zone, "serial": serial, "version": applied.get(zone)})
        return out
