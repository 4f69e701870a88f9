"""Verdicts at scale: a full map in chunks under the payload limit, heartbeats with changes.

An instance writes its whole verdict map rarely: as `map.<instance>.<i>` chunks (each well
under NATS's 1 MiB payload limit) tagged with an epoch, when it joins and when the changes
since the last map outgrow a tenth of it. Its heartbeats carry only the epoch and the changes
since that map, so steady-state traffic grows with changes, not instances x members. A
receiver assembles a peer's map once its chunks are in (they are written before the
heartbeat that names them: the stream delivers them first) and applies the changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from geodns.model import MemberKey

CHUNK_BYTES = 256 * 1024
GONE = "-"  # a change meaning: no verdict any more (member removed)


def rows_of(verdicts: Mapping[MemberKey, str]) -> list[list[str]]:
    return [[*key, state] for key, state in sorted(verdicts.items())]


def verdicts_of(rows: list) -> dict[MemberKey, str]:
    return {(str(z), str(p), str(a)): str(s) for z, p, a, s in rows}


class Outbox:
    """Our side: the map last written (epoch, verdicts) and what changed since."""

    def __init__(self) -> None:
        self.epoch = 0
        self.base: dict[MemberKey, str] | None = None  # None: write a whole map next

    def reset(self) -> None:
        """A new session (maybe a new bucket): the next heartbeat goes with a whole map."""
        self.base = None

    def changes(self, verdicts: Mapping[MemberKey, str]) -> dict[MemberKey, str]:
        base = self.base or {}
        out = {m: s for m, s in verdicts.items() if base.get(m) != s}
        out.update({m: GONE for m in base if m not in verdicts})
        return out

    def beat(
        self, instance: str, verdicts: Mapping[MemberKey, str], epoch: int
    ) -> tuple[list[bytes], int, list[list[str]]]:
        """(map chunks to write first, or none; the epoch; the changes for the heartbeat)."""
        changes = self.changes(verdicts)
        if self.base is not None and len(changes) <= max(64, len(self.base) // 10):
            return [], self.epoch, rows_of(changes)
        self.epoch, self.base = epoch, dict(verdicts)
        return chunks(instance, epoch, rows_of(verdicts)), epoch, []


def chunks(instance: str, epoch: int, rows: list[list[str]]) -> list[bytes]:
    """The rows split so that each chunk's JSON stays under CHUNK_BYTES."""
    parts: list[list[list[str]]] = [[]]
    size = 0
    for row in rows:
        cost = sum(len(c) for c in row) + 16
        if size + cost > CHUNK_BYTES and parts[-1]:
            parts.append([])
            size = 0
        parts[-1].append(row)
        size += cost
    head = {"instance": instance, "epoch": epoch, "parts": len(parts)}
    return [
        json.dumps({**head, "part": i, "verdicts": part}, separators=(",", ":")).encode()
        for i, part in enumerate(parts)
    ]


class Inbox:
    """Their side, per peer: chunks of the epochs seen, the assembled map of the last one."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[int, dict[int, list]]] = {}  # peer -> epoch -> part -> rows
        self.maps: dict[str, tuple[int, dict[MemberKey, str]]] = {}  # peer -> (epoch, map)
        self._last: dict[str, tuple[int, list, dict[MemberKey, str]]] = {}  # the last answer

    def chunk(self, data: bytes, writer: str) -> str:
        """Keep a chunk (its writer must be the instance it names); the instance's name."""
        raw = json.loads(data)
        instance, epoch, part, parts = raw["instance"], raw["epoch"], raw["part"], raw["parts"]
        if instance != writer or not 0 <= part < parts:
            raise ValueError(f"map chunk of {instance!r} written by {writer!r}")
        epochs = self.parts.setdefault(instance, {})
        for old in [e for e in epochs if e < epoch - 1]:
            del epochs[old]  # keep the last two epochs at most
        epochs.setdefault(int(epoch), {})[int(part)] = [parts, raw["verdicts"]]
        return str(instance)

    def verdicts(self, instance: str, epoch: int, changes: list) -> dict[MemberKey, str] | None:
        """The peer's verdicts: its map of `epoch` with the changes, or None when that map
        is not complete here (yet)."""
        last = self._last.get(instance)
        if last is not None and last[0] == epoch and last[1] == changes:
            return last[2]  # a heartbeat with nothing new: the very same dict, no copy
        held = self.maps.get(instance)
        if held is None or held[0] != epoch:
            got = self.parts.get(instance, {}).get(epoch, {})
            if not got or len(got) != next(iter(got.values()))[0]:
                return None
            merged: dict[MemberKey, str] = {}
            for i in sorted(got):
                merged.update(verdicts_of(got[i][1]))
            held = self.maps[instance] = (epoch, merged)
            self.parts[instance] = {epoch: got}
        out = dict(held[1])
        for member, state in verdicts_of(changes).items():
            if state == GONE:
                out.pop(member, None)
            else:
                out[member] = state
        self._last[instance] = (epoch, changes, out)
        return out

    def forget(self, instance: str) -> None:
        self._last.pop(instance, None)
        self.parts.pop(instance, None)
        self.maps.pop(instance, None)
