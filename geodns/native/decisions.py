"""The native path's policy answers: each compiled policy tree's classes decided under the
current health, pre-encoded as dns/answer.py would encode them (geodns._native.Decisions),
rebuilt whole on every health change and swapped in by the native threads' epoch scheme.

A class is answered natively only when its answer is the same for every query of that
class until health moves: a deterministic tree (no random draw, no rotation), compiled
(not sticky, no run-time RTTs), not failed open. Everything else stays Python's.
"""

from __future__ import annotations

import random
from typing import Any

from geodns import policies
from geodns import wire as w
from geodns.native.table import Built, engine
from geodns.table import heads

_NODATA = b"".join(heads(True, 0, 0, 1, 0))
_RNG = random.Random(0)  # deterministic trees draw nothing; resolve() wants one


def _classes(pa: Any, qtype: int, health: Any) -> list[tuple] | None:
    """(heads, records, pool index in pa.pools, python) per class of a compiled tree, or
    None when the tree is decided per query (Python's)."""
    compiled = pa.compiled
    if compiled is None or not pa.cacheable or len(pa.pools) > 256:
        return None
    # run-time RTTs rank per network (steering): decided per query meanwhile
    if compiled.rtt_zone is not None and health.measured(compiled.rtt_zone):
        return None
    index = {name: i for i, (_zone, name) in enumerate(pa.pools)}
    out = []
    for rep in compiled.reps:
        decision = policies.resolve(pa.node, rep, health, _RNG, None)
        if decision.pool is None:
            out.append((_NODATA, b"", -1, False))
            continue
        pool = index.get(decision.pool.name)
        if pool is None or decision.failed_open or decision.max_answers:
            out.append((_NODATA, b"", -1, True))
            continue
        ttl = pa.ttl if decision.ttl is None else decision.ttl
        chosen = pa.records(decision.pool, qtype, None, health)
        if not chosen:
            out.append((_NODATA, b"", pool, False))
            continue
        body = b"".join(w.rr(w.PTR_QNAME, qtype, ttl, packed) for _, packed in chosen)
        out.append((b"".join(heads(True, 0, len(chosen), 0, 0)), body, pool, False))
    return out


def decisions(built: Built, health: Any) -> Any:
    """A Decisions for every policy entry of `built` under `health` (a HealthView): each
    distinct (tree, TTL, type, compiled ranges, pools) decided once, its other names sharing
    the answers (a million names over a few trees cost a few decisions)."""
    dec = engine().Decisions(len(built.policies))
    first: dict[tuple, int | None] = {}  # the slot that holds a shared tree's answers
    for slot, entry in enumerate(built.policies):
        pa = entry.policy
        key = (id(pa.node), pa.ttl, entry.qtype, id(pa.compiled), pa.pools)
        found = first.get(key, -1)
        if found is None:
            continue  # Python's, as the first name with this tree
        if found >= 0:
            dec.share(slot, found)
            continue
        classes = _classes(pa, entry.qtype, health)
        if classes is None:
            first[key] = None
            continue
        dec.set_policy(slot, *pa.compiled.buffers(), classes)
        first[key] = slot
    return dec
