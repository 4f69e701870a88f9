"""Answer kinds the native path picks per query, decided ahead per health state: a weighted
draw's outcomes with the exact draw bounds, a sticky node's candidates, max_answers rotation.

A class whose tree draws at random is resolved with a scripted draw k / 2**53 (what
random.random() returns for k): its outcome is constant between bounds found by bisection
over k, so the C draw of a uniform k in [0, 2**53) gives each outcome exactly the
probability Python's draw gives it. A sticky root is its candidates' keys and weights; the
C hash (csrc/answer/rendezvous.c) is policies/weighted.py's, bit for bit.
"""

from __future__ import annotations

import dataclasses
import itertools
import struct
from dataclasses import dataclass
from typing import Any

from geodns import policies
from geodns import wire as w
from geodns.model import FAMILY_V4, Client
from geodns.policies import weighted
from geodns.table import heads

TOP = 1 << 53  # draws k in [0, TOP): random.random() is k / TOP
NODATA_HEADS = b"".join(heads(True, 0, 0, 1, 0))
PYTHON = (NODATA_HEADS, b"", -1, True)
# a whole family as one range of class 0 (the layout of csrc/geo/ranges.h), scope 0
WHOLE = (struct.pack("=I", 0), struct.pack("=I", 0), bytes(16), struct.pack("=I", 0))
ANYONE = Client(bytes(4), FAMILY_V4, 32, False)


@dataclass(frozen=True, slots=True)
class Target:
    """What a slot's classes are encoded for: the policy name and type, its pools' indexes,
    its rotation counter; for a CNAME chain's end, the records' owner (the chain's last
    target) and how many records the chain puts before them."""

    pa: Any
    qtype: int
    index: dict
    rot: int | None = None
    owner: bytes = w.PTR_QNAME
    before: int = 0

    @classmethod
    def of(cls, pa: Any, qtype: int, rot: int | None, chain: tuple = (w.PTR_QNAME, 0)) -> Target:
        index = {name: i for i, (_zone, name) in enumerate(pa.pools)}
        return cls(pa, qtype, index, rot, *chain)


class PerQuery(Exception):
    """A tree decided per query in a way the native classes do not hold: Python's."""


class Script:
    """A random source that answers every draw with one value, counting the draws."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.calls = 0

    def random(self) -> float:
        self.calls += 1
        return self.value


def answer(t: Target, d: Any, health: Any) -> tuple:
    """One decision as a native class: (heads, records, pool, python[, rotation counter,
    max_answers, record size]); failed open (counted by Python) stays Python's."""
    empty = b"".join(heads(True, 0, t.before, 0, 0)) if t.before else NODATA_HEADS
    if d.pool is None:
        return (empty, b"", -1, False)
    pool = t.index.get(d.pool.name)
    if pool is None or d.failed_open or (d.max_answers and t.rot is None):
        return PYTHON
    pa = t.pa
    ttl = pa.ttl if d.ttl is None else d.ttl
    chosen = pa.records(d.pool, t.qtype, None, health)  # every healthy one: C rotates N
    body = b"".join(w.rr(t.owner, t.qtype, ttl, packed) for _, packed in chosen)
    count = min(len(chosen), d.max_answers) if d.max_answers else len(chosen)
    if not chosen:
        out: tuple = (empty, b"", pool, False)
    else:
        out = (b"".join(heads(True, 0, t.before + count, 0, 0)), body, pool, False)
    if d.max_answers:
        out += (t.rot, d.max_answers, len(body) // len(chosen) if chosen else 1)
    return out


def decide(t: Target, rep: Client, health: Any) -> tuple:
    """The native class of one representative client: its answer, or its draw."""
    probe = Script(0.0)
    d = policies.resolve(t.pa.node, rep, health, probe, None)  # type: ignore[arg-type]
    if probe.calls == 0:
        return answer(t, d, health)
    try:
        return ("draw", draw(t, rep, health))
    except PerQuery:
        return PYTHON


def draw(t: Target, rep: Client, health: Any) -> list:
    """[(bound, answer)]: the answer for draws below each bound, bounds ascending to TOP."""

    def outcome(k: int) -> tuple:
        probe = Script(k / TOP)
        d = policies.resolve(t.pa.node, rep, health, probe, None)  # type: ignore[arg-type]
        if probe.calls != 1:
            raise PerQuery("more than one draw per query")
        return answer(t, d, health)

    breaks = _breaks(t.pa.node, health)
    points = sorted({0, TOP - 1, *(min(TOP - 1, int(b * TOP)) for b in breaks)})
    samples = [(k, outcome(k)) for k in _mids(points)] + [(TOP - 1, outcome(TOP - 1))]
    out: list[tuple[int, tuple]] = []
    at, cur = 0, outcome(0)
    for k, found in samples:
        while found != cur:  # a change in (at, k]: the first draw past cur, by bisection
            lo, hi = at, k
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if outcome(mid) == cur else (lo, mid)
            out.append((hi, cur))
            at, cur = hi, outcome(hi)
        at = k
    out.append((TOP, cur))
    return out


def _mids(points: list[int]) -> list[int]:
    """Each point and the middle of each gap: one sample inside every candidate interval."""
    out = []
    for a, b in itertools.pairwise(points):
        out += [a, (a + b) // 2]
    return out


def _breaks(node: Any, health: Any) -> list[float]:
    """Where a draw may change its pick: each random weighted node's cumulative shares."""
    out: list[float] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, weighted.Weighted) and not n.sticky:
            _, shares, _, _ = n._shares(health)
            total, acc = sum(shares), 0.0
            for share in shares:
                acc += share
                out.append(acc / total)
        if hasattr(n, "children"):
            stack += [c for c in n.children() if hasattr(c, "children")]
    return out


def sticky(t: Target, health: Any) -> list | None:
    """The one class of a tree whose root is a sticky weighted node (never compiled): its
    candidates' (key, weight, answer) under this health, or None when it is not one."""
    node = t.pa.node
    if not isinstance(node, weighted.Weighted) or not node.sticky:
        return None
    candidates, shares, failed_open, _ = node._shares(health)
    d = policies.resolve(node, ANYONE, health, Script(0.0), None)  # type: ignore[arg-type]
    if failed_open or d.pool is None:  # all down: NODATA, or failed open (Python counts it)
        return [answer(t, d, health) if d.pool is None else PYTHON]
    outcomes = []
    for i, share in zip(candidates, shares, strict=True):
        picked = dataclasses.replace(d, pool=node.members[i])  # only the pool differs
        outcomes.append((node.keys[i], float(share), answer(t, picked, health)))
    return [("sticky", weighted.STICKY_V4, weighted.STICKY_V6, outcomes)]


def unplaced(pa: Any) -> bool:
    """True for a tree that reads nothing of the client (draws, rotation): one class for
    every address, whether or not GeoIP compiled it."""
    return policies.reads(pa.node) <= {"random", "rotation"}
