"""Files mode: zones_dir is the truth; an API write replaces a zone file and reloads.

The write runs under the app's reload lock (passed in), so it never interleaves with a
reload: the file is replaced atomically, the table rebuilt from the folder, and if that
reload fails (another file broken by hand meanwhile) the old file is put back.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from geodns.fleet.serials import next_serial
from geodns.model import Zone
from geodns.ops.zonewrite import Current, Refused
from geodns.table import Table
from geodns.zones import document, store
from geodns.zones.store import FileHistory, Version


class FilesBackend:
    """Zone documents as the files of zones_dir; versions are content hashes."""

    def __init__(
        self,
        zones_dir: str,
        history: int,
        lock: asyncio.Lock,
        reload: Callable[[], Awaitable[bool]],
        table: Callable[[], Table],
        agreed: dict[tuple[str, str], int],
    ) -> None:
        self.zones_dir, self.lock, self.reload, self.table = zones_dir, lock, reload, table
        self.agreed = agreed  # the zone loader's serial overrides for `serial: auto` content
        self.past = FileHistory(history)

    def unwritable(self) -> str | None:
        return None

    def _served(self, zone: str) -> Zone | None:
        return next(
            (zt.zone for zt in self.table().zones.values() if zt.zone.origin_text.lower() == zone),
            None,
        )

    def _path(self, zone: str, served: Zone | None) -> str:
        if served is not None and os.path.exists(served.source):
            return served.source
        return str(Path(self.zones_dir) / store.file_name(zone))

    async def current(self, zone: str) -> Current:
        served = self._served(zone)
        path = self._path(zone, served)
        text = store.read_text(path) if served is not None else None
        if text is None:
            return Current(None, None, None, None, path)
        version = store.version_of(text)
        serial = served.serial if served is not None else None
        self.past.note(zone, Version(version, serial, time.time(), "file", "read from disk", text))
        loop = asyncio.get_running_loop()
        doc = await loop.run_in_executor(None, document.from_text, text)
        return Current(doc if isinstance(doc, dict) else None, version, serial, served, path)

    async def commit(
        self, zone: str, cur: Current, doc: dict | None, text: str, new: Zone | None, meta: Version
    ) -> tuple[str | int, int | None]:
        path = cur.token
        if cur.doc is None and os.path.exists(path):
            raise Refused(409, f"{path} holds another zone; rename it or write that zone")
        if doc is not None and new is not None and cur.serial is not None:
            text = self._grown(doc, text, new, cur.serial)
        old_text = store.read_text(path) if os.path.exists(path) else None
        try:
            if doc is None:
                store.atomic_remove(path)
            else:
                store.atomic_write(path, text)
        except OSError as exc:  # a read-only mount (a ConfigMap): say so, change nothing
            why = exc.strerror or str(exc)
            raise Refused(500, f"cannot write {path}: {why}; nothing changed") from exc
        if not await self.reload():
            self._restore(path, old_text)
            await self.reload()
            raise Refused(409, "the zones folder does not load (see the log): nothing changed")
        served = self._served(zone)
        version = store.version_of(text) if doc is not None else "deleted"
        serial = served.serial if served is not None else None
        self.past.note(zone, Version(version, serial, meta.time, meta.who, meta.summary, text))
        return version, serial

    def _grown(self, doc: dict, text: str, new: Zone, serving: int) -> str:
        """A new version never serves a lower serial: an explicit one at or below the
        serving serial is raised in the file; `auto` gets the loader's override."""
        if new.content_hash == getattr(self._served(new.origin_text.lower()), "content_hash", ""):
            return text
        if not new.serial_auto and new.serial <= serving:
            soa = dict(doc.get("soa") or {})
            soa["serial"] = next_serial(serving)
            text = document.to_text({**doc, "soa": soa})
        elif new.serial_auto and new.serial <= serving:
            self.agreed[(new.origin_text, new.content_hash)] = next_serial(serving)
        return text

    @staticmethod
    def _restore(path: str, old_text: str | None) -> None:
        if old_text is None:
            store.atomic_remove(path)
        else:
            store.atomic_write(path, old_text)

    async def settle(self, zone: str, version: str | int) -> bool:
        return True  # the reload inside commit already serves it

    async def history(self, zone: str) -> list[Version]:
        await self.current(zone)  # a hand edit since the last look is a version too
        return self.past.list(zone)

    def listing(self) -> list[dict]:
        out = []
        for zt in self.table().zones.values():
            version = store.version_of(store.read_text(zt.zone.source) or "")
            out.append({"zone": zt.zone.origin_text, "serial": zt.zone.serial, "version": version})
        return out
