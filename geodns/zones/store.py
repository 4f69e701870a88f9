"""Zone content on disk: atomic file replacement, versions by content, a bounded history.

Files mode keeps zones_dir the truth: an API write replaces the zone's file whole (a temp
file beside it, fsync, rename, fsync of the folder), so a reader, the reload watcher or a
`git pull` sees the old file or the new one, never a mix. A version is the first 16 hex
digits of the text's SHA-256 (the same hash `serial: auto` comes from), so a hand edit is
a new version too. The fleet keeps its served copies the same way (fleet/content.py).
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geodns.zones import load


def atomic_write(path: str | Path, text: str) -> None:
    """Replace `path` whole: a hidden temp file in the same folder (the watcher skips it),
    flushed to disk, renamed over the old one, the folder's entry flushed too."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # keep the old file's mode (a ConfigMap, git)
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
        if not path.exists():
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync_dir(path.parent)


def atomic_remove(path: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sync_dir(Path(path).parent)


def sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def version_of(text: str) -> str:
    return load.content_hash(text)[:16]


def file_name(zone: str) -> str:
    """`gslb.example.com.` -> `gslb.example.com.yaml` (the zone's own file, new zones).

    A zone name may hold any byte (`/tmp/x.` is a valid name): everything but letters,
    digits, `-`, `_` and the dots between labels is written `%XX` (an empty label `%2E`),
    so the file always lands in its folder, never beside it, elsewhere or hidden."""
    labels = (zone.rstrip(".") or "root").split(".")
    return ".".join(_SAFE.sub(_escape, label) or "%2E" for label in labels) + ".yaml"


_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def _escape(match: re.Match) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode())


@dataclass(frozen=True, slots=True)
class Version:
    """One entry of a zone's history; `text` is what rollback restores (None: deleted)."""

    version: str | int
    serial: int | None
    time: float
    who: str
    summary: str
    text: str | None = None

    def public(self) -> dict[str, Any]:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time))
        return {
            "version": self.version,
            "serial": self.serial,
            "time": when,
            "who": self.who,
            "summary": self.summary,
        }


class FileHistory:
    """The versions this process wrote or saw, per zone, newest last, `size` kept.

    Files mode's long memory is git (or whatever manages zones_dir); this one serves
    GET .../history and rollback for the recent past, including hand edits noticed.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._zones: dict[str, collections.deque[Version]] = {}

    def note(self, zone: str, entry: Version) -> None:
        held = self._zones.setdefault(zone, collections.deque(maxlen=self.size))
        if not held or held[-1].version != entry.version:
            held.append(entry)

    def latest(self, zone: str) -> Version | None:
        held = self._zones.get(zone)
        return held[-1] if held else None

    def list(self, zone: str) -> list[Version]:
        return list(self._zones.get(zone, ()))

    def find(self, zone: str, version: str) -> Version | None:
        return next((v for v in self._zones.get(zone, ()) if str(v.version) == version), None)


def read_text(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
