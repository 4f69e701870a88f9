"""The health state machine without sockets: rise/fall, drains, reloads, generation, counters."""

from __future__ import annotations

import logging

import pytest

from geodns.health.board import TIMED_OUT, HealthBoard
from geodns.model import CheckSpec

Z = "example.test."
A = (Z, "web", "192.0.2.1")
B = (Z, "web", "192.0.2.2")
C = (Z, "db", "192.0.2.3")
HTTP = CheckSpec("http", 80, rise=2, fall=3)


class FakeClock:
    """Wall time the test decides."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def board_with(*members, spec: CheckSpec | None = HTTP, clock=None) -> HealthBoard:
    board = HealthBoard(clock=clock) if clock else HealthBoard()
    board.set_members({m: spec for m in members})
    return board


def feed(board: HealthBoard, member, results: str) -> str:
    """Record P/F results; the raw state after each one as U(p)/D(own)."""
    states = ""
    for r in results:
        board.record(member, r == "P", "HTTP 200" if r == "P" else "HTTP 503")
        states += board.status(member).state[0].upper()
    return states


@pytest.mark.parametrize(
    ("rise", "fall", "results", "states"),
    [
        (2, 3, "P", "U"),  # the first result decides at once: useful from the start
        (2, 3, "F", "D"),
        (2, 3, "PFF", "UUU"),  # fewer than `fall` failures change nothing
        (2, 3, "PFFF", "UUUD"),
        (2, 3, "PFFPFFF", "UUUUUUD"),  # a pass resets the failure count
        (2, 3, "FP", "DD"),
        (2, 3, "FPP", "DDU"),
        (2, 3, "FPFPP", "DDDDU"),  # a failure resets the pass count
        (2, 3, "PFFFPPFFF", "UUUDDUUUD"),
        (1, 1, "PFPF", "UDUD"),
        (3, 1, "PFPPP", "UDDDU"),
        (1, 2, "FFPFP", "DDUUU"),
    ],
)
def test_rise_fall(rise: int, fall: int, results: str, states: str) -> None:
    board = board_with(A, spec=CheckSpec("tcp", 443, rise=rise, fall=fall))
    start = board.generation
    assert feed(board, A, results) == states
    changes = sum(1 for x, y in zip("U" + states, states, strict=False) if x != y) + 0
    # unknown counts as up, so only moves to and from down change the generation
    assert board.generation - start == changes
    assert board.is_up(A) == (states[-1] == "U")
    passes, fails = results.count("P"), results.count("F")
    assert board.checks_total[(Z, "web", "pass")] == passes
    assert board.checks_total[(Z, "web", "fail")] == fails
    assert board.transitions_total[(*A, "down")] == states.count("UD") + (states[0] == "D")
    assert board.transitions_total[(*A, "up")] == states.count("DU") + (states[0] == "U")


def test_status_keeps_last_result_and_counts() -> None:
    clock = FakeClock()
    board = board_with(A, clock=clock)
    st = board.status(A)
    assert (st.state, st.checked, st.effective_up, st.last_ok, st.last_checked) == (
        "unknown",
        True,
        True,
        None,
        None,
    )
    board.record(A, True, "HTTP 200")
    clock.now = 1_005.0
    board.record(A, False, "connection refused")
    st = board.status(A)
    assert (st.state, st.last_ok, st.last_detail, st.last_checked) == (
        "up",
        False,
        "connection refused",
        1_005.0,
    )
    assert (st.passes, st.fails) == (0, 1)
    assert board.status((Z, "web", "203.0.113.9")) is None


def test_unchecked_members_are_always_up() -> None:
    board = board_with(A, spec=None)
    assert board.is_up(A) and board.first_round_done()
    board.record(A, False, "ignored")  # nothing probes it; a stray result changes nothing
    st = board.status(A)
    assert (st.state, st.checked, st.last_ok) == ("up", False, None)
    assert not board.checks_total


def test_members_nobody_registered_are_up() -> None:
    board = HealthBoard()
    assert board.is_up(A)
    assert board.generation == 0
    board.record(A, False, "nobody asked")
    assert board.is_up(A) and not board.checks_total


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("P", "P", False), ("F", "P", False), ("F", "F", True), ("F", "", False)],
)
def test_all_down(a: str, b: str, expected: bool) -> None:
    board = board_with(A, B)
    feed(board, A, a)
    feed(board, B, b)  # "": still unknown, which counts as up
    assert board.all_down([A, B]) is expected


def test_all_down_edges() -> None:
    board = board_with(A)
    feed(board, A, "F")
    assert board.all_down([])  # no member at all: nothing to answer with
    assert not board.all_down([A, (Z, "web", "unregistered")])


def test_drain_counts_as_down_and_bumps_generation_only_on_change() -> None:
    board = board_with(A, B)
    feed(board, A, "P")
    gen = board.generation
    assert board.drain(A) and not board.is_up(A)
    assert board.generation == gen + 1
    assert board.drain(A) and board.generation == gen + 1  # already drained
    st = board.status(A)
    assert (st.state, st.drained, st.effective_up) == ("up", True, False)
    assert board.undrain(A) and board.is_up(A) and board.generation == gen + 2
    assert not board.drain((Z, "web", "203.0.113.9"))
    assert not board.undrain((Z, "nope", "192.0.2.1"))


def test_drain_of_a_down_member_changes_nothing_visible() -> None:
    board = board_with(A)
    feed(board, A, "F")
    gen = board.generation
    board.drain(A)
    assert board.generation == gen
    feed(board, A, "PP")  # checks pass again, but the drain holds
    assert board.status(A).state == "up" and not board.is_up(A)
    assert board.generation == gen
    board.undrain(A)
    assert board.is_up(A) and board.generation == gen + 1


def test_reload_keeps_state_of_unchanged_members() -> None:
    board = board_with(A, B, C)
    feed(board, A, "F")
    feed(board, B, "PFF")  # two failures into fall=3
    feed(board, C, "P")
    board.drain(C)
    gen = board.generation
    new = (Z, "web", "192.0.2.4")
    changed = CheckSpec("http", 80, path="/v2", rise=2, fall=3)
    board.set_members({A: HTTP, B: HTTP, C: changed, new: HTTP})
    assert board.generation > gen
    assert board.status(A).state == "down" and not board.is_up(A)  # survived the reload
    assert feed(board, B, "F") == "D"  # the failure count survived too
    st = board.status(C)  # changed check: old results say nothing; the drain stays
    assert (st.state, st.drained, st.last_ok) == ("unknown", True, None)
    assert board.status(new).state == "unknown" and board.is_up(new)
    assert not board.first_round_done()
    assert board.members() == [A, B, C, new]


def test_reload_drops_removed_members_and_their_results() -> None:
    board = board_with(A, B)
    feed(board, A, "F")
    board.drain(B)
    board.set_members({B: HTTP})
    assert board.status(A) is None and board.is_up(A)
    fails = board.checks_total[(Z, "web", "fail")]
    board.record(A, False, "late result from a cancelled probe")
    assert board.checks_total[(Z, "web", "fail")] == fails
    board.set_members({A: HTTP, B: HTTP})  # back again: a new member, not the old one
    assert board.status(A).state == "unknown"
    assert board.status(B).drained


def test_reload_from_checked_to_unchecked() -> None:
    board = board_with(A)
    feed(board, A, "F")
    board.set_members({A: None})
    assert board.is_up(A) and board.status(A).state == "up" and board.first_round_done()


def test_first_round() -> None:
    board = board_with(A, B)
    assert not board.first_round_done()
    feed(board, A, "P")
    assert not board.first_round_done()
    feed(board, B, "F")
    assert board.first_round_done()
    assert board.mark_first_round_timed_out() == 0


def test_first_round_timeout_marks_the_late_ones_failed() -> None:
    board = board_with(A, B, C)
    feed(board, A, "P")
    gen = board.generation
    assert board.mark_first_round_timed_out() == 2
    assert board.first_round_done()
    for member in (B, C):
        st = board.status(member)
        assert (st.state, st.last_ok, st.last_detail) == ("down", False, TIMED_OUT)
    assert board.is_up(A) and board.generation == gen + 2
    assert board.checks_total[(Z, "web", "fail")] == 1
    assert board.checks_total[(Z, "db", "fail")] == 1


def test_transitions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    board = board_with(A, spec=CheckSpec("tcp", 443, rise=1, fall=1))
    with caplog.at_level(logging.DEBUG, logger="geodns.health"):
        feed(board, A, "PFP")
        board.drain(A)
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [lvl for lvl, _ in levels] == [
        logging.DEBUG,  # unknown -> up: routine, a thousand of them at start
        logging.WARNING,
        logging.INFO,
        logging.INFO,
    ]
    assert "192.0.2.1 is down (was up): HTTP 503" in levels[1][1]
    assert "drained" in levels[3][1]
