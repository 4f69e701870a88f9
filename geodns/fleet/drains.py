"""Drains as records (who, when, why), the min_healthy guard, and files kept in state_dir."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from geodns.model import MemberKey, Pool

log = logging.getLogger("geodns.fleet")


@dataclass(frozen=True, slots=True)
class Drain:
    """A drain or an undrain of a member by an operator: stored, shown and applied everywhere.
    `hlc` and `writer` (the instance that took the request) order them: the newest wins on
    every instance, whatever the order they arrive in (an undrain is a record too, never a
    delete, so it can be newer than a drain made elsewhere)."""

    member: MemberKey
    by: str
    at: str  # ISO-8601, UTC
    reason: str
    drained: bool = True
    expires: str | None = None  # ISO-8601: no longer applied after this
    forced: bool = False  # made below min_healthy on purpose: a merge does not hold it back
    hlc: int = 0
    writer: str = ""

    @property
    def stamp(self) -> tuple[int, str]:
        return (self.hlc, self.writer)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Drain:
        zone, pool, address = (str(part) for part in raw["member"])
        expires = raw.get("expires")
        return cls(
            (zone, pool, address),
            str(raw["by"]),
            str(raw["at"]),
            str(raw["reason"]),
            bool(raw.get("drained", True)),
            None if expires is None else str(expires),
            bool(raw.get("forced", False)),
            int(raw.get("hlc", 0)),
            str(raw.get("writer", "")),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Drain:
        return cls.from_dict(json.loads(data))


def floor(pool: Pool) -> int:
    """How many members must stay up: `min_healthy: N`, or a percentage rounded up."""
    value = pool.min_healthy
    if value is None:
        return 0
    if isinstance(value, str):
        return math.ceil(len(pool.addresses) * int(value.rstrip("%")) / 100)
    return value


def refusal(pool: Pool, member: MemberKey, is_up: Callable[[MemberKey], bool]) -> str | None:
    """Why draining `member` would break the pool's `min_healthy`, or None if it may go."""
    need = floor(pool)
    left = sum(1 for m in pool.members() if m != member and is_up(m))
    if left >= need:
        return None
    return (
        f"draining {member[2]} would leave {left} healthy member(s) in pool {pool.name!r} "
        f"of {pool.zone}, below min_healthy {pool.min_healthy}; add force=true to drain anyway"
    )


def write_atomic(path: Path, data: bytes) -> None:
    """Write whole or not at all: a temporary file in the same folder, fsynced, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class StateDir:
    """drains.json and verdicts.json in `state_dir`; without one, nothing is kept."""

    def __init__(self, folder: str | None) -> None:
        self.folder = Path(folder) if folder else None

    def _read(self, name: str) -> Any:
        if self.folder is None:
            return None
        try:
            return json.loads((self.folder / name).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("state_dir: cannot read %s: %s; starting without it", name, exc)
            return None

    def _write(self, name: str, body: Any) -> None:
        if self.folder is None:
            return
        try:
            write_atomic(self.folder / name, json.dumps(body).encode())
        except OSError as exc:
            log.warning("state_dir: cannot write %s: %s", name, exc)

    def load_drains(self) -> dict[MemberKey, Drain]:
        rows = self._read("drains.json") or []
        drains = [Drain.from_dict(row) for row in rows if isinstance(row, dict)]
        return {d.member: d for d in drains}

    def save_drains(self, drains: dict[MemberKey, Drain]) -> None:
        self._write("drains.json", [asdict(d) for d in drains.values()])

    def load_verdicts(self) -> tuple[float, dict[MemberKey, str]]:
        """(when they were written, our verdicts); (0, {}) when none were kept."""
        raw = self._read("verdicts.json") or {}
        rows = raw.get("verdicts", []) if isinstance(raw, dict) else []
        verdicts = {(str(z), str(p), str(a)): str(s) for z, p, a, s in rows}
        return float(raw.get("at", 0.0)) if isinstance(raw, dict) else 0.0, verdicts

    def save_verdicts(self, at: float, verdicts: dict[MemberKey, str]) -> None:
        self._write("verdicts.json", {"at": at, "verdicts": [[*k, s] for k, s in verdicts.items()]})

    def load_serials(self) -> dict[str, tuple[int, str]]:
        """The largest serial served per zone, with its content hash (serials only grow)."""
        raw = self._read("serials.json") or {}
        rows = raw.items() if isinstance(raw, dict) else ()
        return {str(z): (int(v[0]), str(v[1])) for z, v in rows if isinstance(v, list)}

    def save_serials(self, top: dict[str, tuple[int, str]]) -> None:
        self._write("serials.json", {zone: list(held) for zone, held in top.items()})
