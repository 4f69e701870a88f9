"""The fleet's sans-I/O rules: who votes, how many it takes, dissent, keys, the drain floor."""

from __future__ import annotations

from pathlib import Path

import pytest

from geodns.fleet import votes
from geodns.fleet.drains import Drain, StateDir, floor, refusal
from geodns.model import Pool

M = ("z.test.", "web", "192.0.2.1")


@pytest.mark.parametrize(
    ("quorum", "voters", "need"),
    [
        ("majority", 1, 1),
        ("majority", 2, 2),
        ("majority", 3, 2),
        ("majority", 4, 3),
        (2, 3, 2),
        (3, 2, 2),
        ("18%", 3, 3),  # up while 1 of 3 (33% >= 18%) sees it up: every one must see it down
        ("18%", 10, 9),  # 2 of 10 up is 20%: still up; 1 of 10 is 10%: down
        ("50%", 4, 3),  # 2 of 4 up is 50%: up; majority would need 3 down too
        ("100%", 5, 1),  # any instance seeing it down takes it down
    ],
)
def test_needed(quorum, voters: int, need: int) -> None:
    assert votes.needed(quorum, voters) == need


def test_only_instances_with_a_verdict_vote_and_dissent_is_against_the_quorum() -> None:
    other = ("z.test.", "web", "192.0.2.2")
    a, b, c = {M: "up", other: "up"}, {M: "up"}, {M: "down", other: "down"}
    decided = votes.tally([M, other], [a, b, c], "majority")
    assert decided[M] == votes.Tally(1, 3, 2) and decided[M].verdict == "up"
    assert decided[other] == votes.Tally(1, 2, 2) and decided[other].verdict == "up"
    assert votes.dissent(c, decided) == ["z.test./web/192.0.2.1", "z.test./web/192.0.2.2"]
    assert votes.dissent(a, decided) == []


def test_stale_records_do_not_vote_and_records_round_trip() -> None:
    rec = votes.Record("ns1", "1.0", "abc", 100.0, "joined", {M: "down"})
    assert votes.Record.from_bytes(rec.to_bytes()) == rec
    assert votes.fresh([rec], now=101.0, stale_after=2.0) == [rec]
    assert votes.fresh([rec], now=103.0, stale_after=2.0) == []


def test_keys_are_nats_tokens() -> None:
    assert votes.key_part("ns1.example:com") == "ns1=2eexample=3acom"
    assert votes.member_key(("z.", "p", "2001:db8::1")).startswith("drain.z=2e=09p=092001=3adb8")


def test_min_healthy_floor_and_refusal() -> None:
    pool = Pool("z.test.", "web", ("192.0.2.1", "192.0.2.2", "192.0.2.3"), min_healthy="50%")
    assert floor(pool) == 2
    assert refusal(pool, pool.members()[0], lambda m: True) is None
    down = {pool.members()[1]}
    why = refusal(pool, pool.members()[0], lambda m: m not in down)
    assert why is not None and "below min_healthy 50%" in why


def test_state_dir_keeps_drains_and_verdicts(tmp_path: Path) -> None:
    state = StateDir(str(tmp_path / "state"))
    drain = Drain(M, "alice", "2024-01-01T00:00:00+00:00", "disk")
    state.save_drains({M: drain})
    state.save_verdicts(5.0, {M: "down"})
    assert StateDir(str(tmp_path / "state")).load_drains() == {M: drain}
    assert state.load_verdicts() == (5.0, {M: "down"})
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == [
        "drains.json",
        "verdicts.json",
    ]  # written atomically: no temporary file left behind
    assert StateDir(None).load_drains() == {}


def test_explain_names_the_rule_that_decided() -> None:
    decided = votes.tally([M], [{M: "down"}, {M: "down"}, {M: "up"}], "18%")
    assert decided[M].verdict == "up"
    assert decided[M].words() == (
        "2 of 3 fresh instances see it down (3 needed, quorum 18%: up while at least 18% "
        "of fresh instances see it up)"
    )
    assert "quorum majority" in votes.tally([M], [{M: "up"}], "majority")[M].words()
