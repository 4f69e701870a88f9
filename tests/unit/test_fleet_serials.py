"""Serials from claims and checkpoints (fleet/serials.py): every expected number is worked
out by hand from the rule (stream order; max(floor, previous + 1); a content already at or
above a claim's floor keeps its number; start from the checkpoint with the largest upto)."""

from __future__ import annotations

import json

import pytest

from geodns.fleet import serials as s
from geodns.fleet.bus import BusEntry
from geodns.fleet.drains import StateDir
from geodns.fleet.serials import Claim, Serials, checkpoint, serials_of


def cp(revision: int, upto: int, top: int, **contents: int) -> Claim:
    return Claim(revision, "", top, upto, tuple(sorted(contents.items())))


CLAIMS = [
    Claim(1, "A", 10),  # A = 10
    Claim(2, "B", 5),  # B = max(5, 11) = 11
    Claim(3, "A", 12),  # a rollback on an instance that served 11: A = 12
    Claim(4, "B", 11),  # B already at 11 >= 11: passed over
    Claim(6, "", 20),  # a floor-only claim: top 20
    Claim(7, "C", 13),  # C = max(13, 21) = 21
]


def test_claims_alone() -> None:
    assert serials_of(CLAIMS) == ({"A": 12, "B": 11, "C": 21}, 21)


def test_a_checkpoint_then_the_claims_after_it_give_the_same_numbers() -> None:
    mark = cp(5, 3, 12, A=12, B=11)  # the fold of revisions 1..3, written at 5
    assert serials_of([mark, *CLAIMS[3:]]) == ({"A": 12, "B": 11, "C": 21}, 21)
    assert serials_of([*CLAIMS, mark]) == ({"A": 12, "B": 11, "C": 21}, 21)  # 1..3 not again


def test_claims_at_or_below_upto_are_not_applied_again() -> None:
    mark = cp(9, 3, 7, A=7)
    assert serials_of([Claim(2, "B", 50), Claim(3, "", 99), mark]) == ({"A": 7}, 7)
    assert serials_of([mark, Claim(10, "B", 1)]) == ({"A": 7, "B": 8}, 8)


def test_the_largest_upto_wins_whatever_its_revision() -> None:
    old, new = cp(20, 4, 30, A=30), cp(15, 8, 40, A=30, B=40)
    assert serials_of([old, new, Claim(16, "C", 1)]) == ({"A": 30, "B": 40, "C": 41}, 41)
    assert serials_of([new, old, Claim(16, "C", 1)]) == ({"A": 30, "B": 40, "C": 41}, 41)


def test_checkpoint_folds_what_was_seen(monkeypatch) -> None:
    assert checkpoint("z.", []) is None
    body = checkpoint("z.", CLAIMS)
    assert body == {"zone": "z.", "upto": 7, "serials": {"A": 12, "B": 11, "C": 21}, "floor": 21}
    mark = cp(8, 7, 21, A=12, B=11, C=21)
    assert checkpoint("z.", [*CLAIMS, mark]) is None  # nothing after it
    later = [*CLAIMS, mark, Claim(9, "A", 22)]
    assert checkpoint("z.", later) == {
        "zone": "z.",
        "upto": 9,
        "serials": {"A": 22, "B": 11, "C": 21},
        "floor": 22,
    }
    monkeypatch.setattr(s, "KEEP_CONTENTS", 2)  # B (11) is the lowest: left out
    assert checkpoint("z.", later)["serials"] == {"A": 22, "C": 21}


def test_a_content_left_out_is_numbered_above_everything_if_claimed_again() -> None:
    mark = cp(8, 7, 22, A=22, C=21)  # B (once 11) left out
    assert serials_of([mark, Claim(9, "B", 12)]) == ({"A": 22, "C": 21, "B": 23}, 23)


def _entry(revision: int, writer: str, body: dict) -> BusEntry:
    key = f"serial.z=2e.{writer}-{revision}"
    return BusEntry(key, json.dumps(body).encode(), "PUT", revision, writer, revision)


def test_a_checkpoint_read_from_the_bus_drops_what_it_folds() -> None:
    got = Serials(StateDir(None))
    got.entry(_entry(1, "a", {"zone": "z.", "hash": "A", "floor": 10}))
    got.entry(_entry(2, "b", {"zone": "z.", "hash": "B", "floor": 5}))
    got.entry(_entry(4, "a", {"zone": "z.", "hash": "C", "floor": 1}))
    mark = {"zone": "z.", "upto": 2, "serials": {"A": 10, "B": 11}, "floor": 11}
    got.entry(_entry(5, "b", mark))
    held = got.claims["z."]
    assert sorted(c.revision for c in held.values()) == [4, 5]  # 1 and 2 folded
    assert serials_of(list(held.values())) == ({"A": 10, "B": 11, "C": 12}, 12)
    with pytest.raises(ValueError):  # a checkpoint cannot fold itself or what follows it
        got.entry(_entry(6, "a", {**mark, "upto": 6}))
