"""Zone files -> Zones: list a directory, read each file, and parse only the ones that changed."""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import os
import re
import struct
import time
from pathlib import Path

from geodns.errors import Problem, Where, ZoneError
from geodns.model import Zone
from geodns.zones import zonefile

ZONE_FILE = re.compile(r"^[^.].*\.ya?ml$")
READ_STEP = 1 << 20  # bytes read, decoded or hashed per C call (one 50 MB call holds the GIL)
RACY_NS = 2 * 10**9  # a file this fresh may change again without its mtime moving

Stamp = tuple[int, int, int]  # (st_mtime_ns, st_size, st_ino): unchanged unless one moves


def zone_files(zones_dir: str) -> list[str]:
    """The zone files a directory holds, in a stable order (hidden and editor files skipped)."""
    folder = Path(zones_dir)
    return sorted(str(p) for p in folder.iterdir() if p.is_file() and ZONE_FILE.match(p.name))


def _cannot_read(path: str, exc: Exception) -> ZoneError:
    return ZoneError([Problem(Where(path), f"cannot read zone file: {exc}")])


def _stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _cannot_read(path, exc) from exc
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read_text(path: str) -> str:
    """The file as UTF-8 text, decoded a MiB at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts = []
    try:
        with open(path, "rb") as f:
            while block := f.read(READ_STEP):
                parts.append(decoder.decode(block))
        parts.append(decoder.decode(b"", final=True))
    except (OSError, UnicodeDecodeError) as exc:
        raise _cannot_read(path, exc) from exc
    return "".join(parts)


def content_hash(text: str) -> str:
    """The hex SHA-256 of the text's UTF-8, encoded a chunk at a time."""
    digest = hashlib.sha256()
    for start in range(0, len(text), READ_STEP):
        digest.update(text[start : start + READ_STEP].encode())
    return digest.hexdigest()


def auto_serial(digest: str) -> int:
    """`serial: auto`: from the content's SHA-256, never the file's times, so every instance
    holding the same text serves the same serial (a fleet then agrees on a growing one)."""
    return int(digest[:8], 16) % (2**31 - 1) + 1


def with_serial(zone: Zone, serial: int) -> Zone:
    """The zone with another SOA serial: the first of the five numbers after MNAME/RNAME."""
    rdata, head = zone.soa_rdata, len(zone.soa_rdata) - 20
    packed = rdata[:head] + struct.pack("!I", serial) + rdata[head + 4 :]
    return dataclasses.replace(zone, serial=serial, soa_rdata=packed)


def _carried(zone: Zone) -> Zone:
    """The zone again, with top-level dicts of its own; what they hold is shared, not re-parsed.

    table.dismantle empties the retired table's zone dicts in place once the next table
    serves, so the next table must not hold the very same dicts. dict.copy is one C call
    (about 35 ms a million entries); copying a slice at a time took 20 times as long.
    """
    fresh = {
        f.name: value.copy()
        for f in dataclasses.fields(zone)
        if isinstance(value := getattr(zone, f.name), dict)
    }
    return dataclasses.replace(zone, **fresh)


@dataclasses.dataclass(frozen=True, slots=True)
class _Known:
    """A file as the last good load saw it; no stamp when it was too fresh to trust one."""

    stamp: Stamp | None
    zone: Zone


class ZoneLoader:
    """Loads zone files, remembering the last good load so the next parses only what changed.

    A file whose path and (mtime_ns, size, inode) are as they were is reused unread; any
    other is read and hashed, and reused if its SHA-256 is as it was; only the rest are
    parsed. The app keeps one for all its reloads. A load that fails leaves the memory as
    it was, just as the server keeps serving what it had.
    """

    def __init__(self) -> None:
        self._known: dict[str, _Known] = {}
        self.agreed: dict[tuple[str, str], int] = {}  # (zone, content hash) -> fleet's serial

    def load_dir(self, zones_dir: str) -> list[Zone]:
        """Every zone file in a directory; an unreadable directory is a problem like any other."""
        try:
            paths = zone_files(zones_dir)
        except OSError as exc:
            problem = Problem(Where(zones_dir), f"cannot list zones: {exc.strerror}")
            raise ZoneError([problem]) from exc
        return self.load_paths(paths)

    def load_paths(self, paths: list[str]) -> list[Zone]:
        """Load several zone files; every problem of every file is reported together."""
        problems: list[Problem] = []
        known: dict[str, _Known] = {}
        origins: dict[bytes, str] = {}
        for path in paths:
            try:
                entry = self._agree(self._load(path))
            except ZoneError as exc:
                problems.extend(exc.problems)
                continue
            origin = entry.zone.origin
            if origin in origins:
                message = f"zone {entry.zone.origin_text} is also defined in {origins[origin]}"
                problems.append(Problem(Where(path, 1), message))
                continue
            origins[origin] = path
            known[path] = entry
        if problems:
            raise ZoneError(problems)
        self._known = known  # a file no longer listed is forgotten: its zone is dropped
        return [entry.zone for entry in known.values()]

    def _agree(self, entry: _Known) -> _Known:
        """The fleet's serial for this content where it agreed on one (`serial: auto` only)."""
        zone = entry.zone
        serial = self.agreed.get((zone.origin_text, zone.content_hash))
        if not zone.serial_auto or serial is None or serial == zone.serial:
            return entry
        return _Known(entry.stamp, with_serial(zone, serial))

    def _load(self, path: str) -> _Known:
        """The file's zone (remembered if unchanged, else parsed) and what to remember of it."""
        now, stamp = time.time_ns(), _stamp(path)
        known = self._known.get(path)
        if known is not None and known.stamp is not None and known.stamp == stamp:
            return _Known(stamp, _carried(known.zone))
        trusted = stamp if now - stamp[0] > RACY_NS else None
        text = _read_text(path)
        digest = content_hash(text)
        if known is not None and known.zone.content_hash == digest:
            return _Known(trusted, _carried(known.zone))
        zone = zonefile.load_text(text, path, auto_serial=auto_serial(digest), digest=digest)
        return _Known(trusted, zone)


def load_dir(zones_dir: str) -> list[Zone]:
    """Every zone in a directory, each file parsed (a one-off: `geodns check`, benches)."""
    return ZoneLoader().load_dir(zones_dir)


def load_paths(paths: list[str]) -> list[Zone]:
    """The zones of these files, each parsed; every problem of every file together."""
    return ZoneLoader().load_paths(paths)
