"""The native path's policy answers: each policy tree's classes decided under the current
health, pre-encoded as dns/answer.py would encode them (geodns._native.Decisions), rebuilt
whole on every health change and swapped in by the native threads' epoch scheme.

A class answers natively when it is the same for every query of that class until health
moves, or is picked per query from data decided here (native/kinds.py: a weighted draw,
a sticky hash, max_answers rotation). Failed-open answers, trees drawing twice per query,
sticky nodes below the root, and trees ranked by RTTs measured by ASN or country stay
Python's; trees ranked by RTTs measured per network are split by those networks
(geo/measuredsplit.py).
"""

from __future__ import annotations

from typing import Any

from geodns import wire as w
from geodns.geo import measuredsplit
from geodns.native import kinds, signing
from geodns.native.table import Built, engine


def _classes(t: kinds.Target, health: Any, splits: measuredsplit.Splits) -> tuple | None:
    """(ranges, classes) of a tree: the four range buffers (geo/compiled.py's layout) and
    per class (heads, records, pool index in pa.pools, python[, rotation]) or a per-query
    pick (native/kinds.py); None when the tree is decided per query (Python's)."""
    pa = t.pa
    if len(pa.pools) > 256:
        return None
    compiled = pa.compiled
    if compiled is None:
        found = kinds.sticky(t, health)
        if found is None and kinds.unplaced(pa):
            found = [kinds.decide(t, kinds.ANYONE, health)]
        return None if found is None else (kinds.WHOLE, found)
    # run-time RTTs rank per network (steering): the classes split by measured networks
    measured = health.measured(compiled.rtt_zone) if compiled.rtt_zone is not None else None
    if measured:
        found = splits.get(compiled, measured)
        if found is None:  # measured by ASN or country: decided per query (Python's)
            return None
        return compiled.buffers(), [kinds.decide(t, r, health) for r in found.reps], found.native()
    return compiled.buffers(), [kinds.decide(t, rep, health) for rep in compiled.reps]


def decisions(built: Built, health: Any, splits: measuredsplit.Splits | None = None) -> Any:
    """A Decisions for every policy entry of `built` under `health` (a HealthView): each
    distinct (tree, TTL, type, compiled ranges, pools, rotation counter) decided once, its
    other names sharing the answers (a million names over a few trees cost a few). In a
    signed zone each name's answers are signed for it (native/signing.py): not shared.
    `splits`: the caller's memo of trees split by measured RTTs, kept across calls so a
    health change does not split them again."""
    splits = splits if splits is not None else measuredsplit.Splits()
    dec = engine().Decisions(len(built.policies), built.rotations)
    first: dict[tuple, int | None] = {}  # the slot that holds a shared tree's answers
    presigner = built.signing.fresh() if built.signing is not None else None  # its own cap
    for slot, entry in enumerate(built.policies):
        pa = entry.policy
        rot = built.rot_index.get(id(pa))
        chain = built.chains.get(slot, (w.PTR_QNAME, 0))
        key = (id(pa.node), pa.ttl, entry.qtype, id(pa.compiled), pa.pools, rot, chain)
        owner = built.owners.get(slot)
        if presigner is not None and presigner.signs(entry.zone):
            # signed for this name (past the cap: unsigned, shared again)
            owner = owner if presigner.left > 0 else None
            key += (owner,)
        found = first.get(key, -1)
        if found is None:
            continue  # Python's, as the first name with this tree
        if found >= 0:
            dec.share(slot, found)
            continue
        classes = _classes(kinds.Target.of(pa, entry.qtype, rot, chain), health, splits)
        if classes is None:
            first[key] = None
            continue
        pre = entry.body if slot in built.chains else b""  # a chain's records, signed too
        found = signing.classes(presigner, entry.zone, owner, entry.qtype, classes[1], pre)
        dec.set_policy(slot, *classes[0], found)
        if len(classes) > 2:  # split by measured RTTs (those classes unsigned: Python's)
            dec.set_split(slot, *classes[2])
        first[key] = slot
    return dec
