"""The fleet's zone versions on this machine: the files served from state_dir, and waiters.

`state_dir/zones/<zone>.yaml` holds each zone's current version as the app loads it (the
document with its fleet serial written in, so every instance serves the same number);
`<zone>.json` beside it holds the document, version and serial, so GET and ETag work off
the bus and a restart knows what it served (one small file per zone: a write rewrites
only its own zone's two files).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from geodns.fleet.contentseal import Entry
from geodns.fleet.serials import next_serial
from geodns.model import Zone
from geodns.zones import document, load, store

log = logging.getLogger("geodns.fleet")


def meta_name(zone: str) -> str:
    return store.file_name(zone).removesuffix(".yaml") + ".json"


def serial_for(new: Zone, top: int | None, explicit: bool | None = None) -> int:
    """The serial a new version serves with: above `top` (every earlier one), and the
    document's own when it names a larger one."""
    own = not new.serial_auto if explicit is None else explicit
    if top is None:
        return new.serial
    if own and new.serial > top:
        return new.serial
    return next_serial(top)


def served_text(zone: str, doc: dict, serial: int, version: int) -> str:
    soa = dict(doc.get("soa") or {})
    soa["serial"] = serial
    header = f"# {zone} version {version} from the fleet bus: edit through the API, not here\n"
    return document.to_text({**doc, "soa": soa}, header)


class LocalCopies:
    """The folder the app loads zones from in fleet mode."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seed_dir = ""
        self.held: dict[str, dict[str, Any]] = {}  # zone -> {version, serial, document}
        self.applied: dict[str, int] = {}  # zone -> the revision written out (deletes too)
        self.refused: dict[str, int] = {}  # zone -> a revision that does not load here

    def open(self, seed_dir: str) -> None:
        """Read what was served before; a first start serves the seed files meanwhile."""
        self.seed_dir = seed_dir
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in self.folder.glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                held = json.loads(path.read_text())
                self.held[str(held["zone"])] = held
        if self.held or load.zone_files(str(self.folder)):
            return
        for zone, text in self.seeds():
            store.atomic_write(self.folder / store.file_name(zone), text)

    def seeds(self) -> list[tuple[str, str]]:
        """(zone, text) of every valid zone file in zones_dir."""
        out = []
        with contextlib.suppress(OSError):
            for path in load.zone_files(self.seed_dir):
                text = store.read_text(path)
                compiled, problems = document.check(text) if text else (None, [])
                if compiled is None:
                    log.error("zones: seed file %s not valid: %s", path, problems)
                    continue
                out.append((compiled.origin_text.lower(), text or ""))
        return out

    @staticmethod
    def entry(zone: str, held: dict[str, Any]) -> Entry:
        """The bus entry a kept copy was written from (its seal's writer and time)."""
        at, writer = held.get("at", 0), str(held.get("writer", ""))
        return Entry(held["version"], held, writer, at if type(at) is int else 0)

    def serial_of(self, zone: str) -> int | None:
        held = self.held.get(zone)
        return held.get("serial") if held else None

    def write_all(self, latest: dict[str, Any], prune: bool = False) -> list[str]:
        """Every zone whose newest version is not the file's: written (or removed); with
        `prune` (the bucket just read whole) the files of zones it does not hold go too.
        Returns the zones changed."""
        changed = []
        for zone, entry in latest.items():
            held = self.held.get(zone)
            if self.refused.get(zone) == entry.revision:
                continue
            if self.applied.get(zone) == entry.revision or (
                held is not None and held.get("version") == entry.revision
            ):
                self.applied[zone] = entry.revision
                continue
            path = self.folder / store.file_name(zone)
            doc = entry.document
            if doc is None:
                store.atomic_remove(path)
                store.atomic_remove(self.folder / meta_name(zone))
                self.held.pop(zone, None)
            else:
                text = served_text(zone, doc, entry.serial, entry.revision)
                compiled, problems = document.check(text, zone)
                if compiled is None:  # never let one entry stop every later reload
                    log.error(
                        "zones: version %d of %s does not load here, still serving the one "
                        "before: %s",
                        entry.revision,
                        zone,
                        problems[:5],
                    )
                    self.refused[zone] = entry.revision
                    continue
                held = {"zone": zone, "version": entry.revision, "serial": entry.serial}
                held.update(document=doc, writer=entry.writer, at=entry.at)
                store.atomic_write(path, text)
                store.atomic_write(self.folder / meta_name(zone), json.dumps(held))
                self.held[zone] = held
            self.applied[zone] = entry.revision
            changed.append(zone)
        if prune and latest:
            changed += self._drop_unknown(latest)
        return changed

    def _drop_unknown(self, latest: dict[str, Any]) -> list[str]:
        """Files of zones the bucket does not hold (deleted while we were away)."""
        keep = {store.file_name(z) for z in latest} | {meta_name(z) for z in latest}
        gone = []
        for path in [*load.zone_files(str(self.folder)), *self.folder.glob("*.json")]:
            name = Path(path).name
            if name not in keep:
                store.atomic_remove(path)
                gone.append(name)
        for zone in [z for z in self.held if z not in latest]:
            del self.held[zone]
        return gone

    def versions(self) -> dict[str, int]:
        return {**{z: h["version"] for z, h in self.held.items()}, **self.applied}


class Applied:
    """Which version of each zone this instance serves; writers wait on it."""

    def __init__(self) -> None:
        self.serving: dict[str, int] = {}
        self._moved = asyncio.Condition()

    async def reached(self, versions: dict[str, int]) -> None:
        async with self._moved:
            self.serving = dict(versions)
            self._moved.notify_all()

    async def wait(self, zone: str, version: int, timeout: float) -> bool:
        """True once `zone` serves `version` or a later one (or is gone, for a delete)."""

        def there() -> bool:
            return self.serving.get(zone, 0) >= version

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._moved:
                await self._moved.wait_for(there)
        return there()
