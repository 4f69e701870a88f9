"""Counter snapshots pickled a slice per event-loop turn, so a scrape never stalls answering."""

from __future__ import annotations

import asyncio
import itertools
import pickle
from typing import Any

SLICE = 2048  # entries pickled per loop turn: about 1 ms, whatever the series count
PACKED_KEYS = ("queries", "by_pool")  # the snapshot's maps that grow with zones and pools


def _unpack(slices: list[bytes]) -> dict:
    """The receiving side: pickle calls this; it sees a plain dict, as before packing."""
    out: dict = {}
    for blob in slices:
        out.update(pickle.loads(blob))
    return out


class Packed:
    """A dict already pickled in slices: pickling it again only copies the bytes."""

    __slots__ = ("slices",)

    def __init__(self, slices: list[bytes]) -> None:
        self.slices = slices

    def __reduce__(self) -> tuple[Any, tuple[list[bytes]]]:
        return _unpack, (self.slices,)


async def pack(mapping: dict) -> dict | Packed:
    """`mapping` (a private copy: nobody else may change it meanwhile) pickled a slice at a time.

    Pickling 40,000 (zone, name, pool) counters at once took a worker 10-15 ms, during
    which no query was answered; a slice at a time, the loop answers between slices.
    """
    if len(mapping) <= SLICE:
        return mapping
    items = iter(mapping.items())
    slices = []
    while chunk := list(itertools.islice(items, SLICE)):
        slices.append(pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
        await asyncio.sleep(0)
    return Packed(slices)


async def pack_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A worker's counters snapshot whose big maps are packed; unpickles to the same dict.

    Only the copy the snapshot itself makes (dict(), one C call: ~1.3 ms for 40,000
    entries) still runs in one go.
    """
    for key in PACKED_KEYS:
        if key in snapshot:
            snapshot[key] = await pack(snapshot[key])
    return snapshot
