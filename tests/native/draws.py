"""One random state the native draw (csrc/answer/draw.c) and the Python handler share in
differential tests: splitmix64, 53 bits a draw, written out here from its definition."""

from __future__ import annotations

import sys

MASK = (1 << 64) - 1


class SharedDraws:
    """The Python handler's random source over `state` (8 bytes, native order), the very
    buffer the native side advances: save() before a native answer, restore() after it,
    and both sides draw the same k for the same query."""

    def __init__(self, seed: int) -> None:
        self.state = bytearray(seed.to_bytes(8, sys.byteorder))
        self._saved = bytes(self.state)

    def random(self) -> float:
        s = (int.from_bytes(self.state, sys.byteorder) + 0x9E3779B97F4A7C15) & MASK
        self.state[:] = s.to_bytes(8, sys.byteorder)
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        return (z >> 11) / (1 << 53)

    def save(self) -> None:
        self._saved = bytes(self.state)

    def restore(self) -> None:
        self.state[:] = self._saved


def sync_rotations(handler, built) -> None:
    """The handler's max_answers counters copied onto the native ones (a query the native
    side hands over counts in Python alone): the next answer starts where Python's would."""
    held = handler.memos.rotations
    for entry in built.policies:
        at = built.rot_index.get(id(entry.policy))
        if at is not None:
            start = held.get(entry.policy, 0)
            built.rotations[8 * at : 8 * at + 8] = start.to_bytes(8, sys.byteorder)
