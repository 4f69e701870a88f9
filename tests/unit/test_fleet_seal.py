"""The bus's rules without a bus: envelopes and MACs, the receiver's guard, the hybrid
logical clock, serials derived from claims, and drains merged newest-first."""

from __future__ import annotations

import pytest

from geodns.fleet.drainbook import DrainBook
from geodns.fleet.drains import Drain
from geodns.fleet.seal import SHIFT, Guard, Hlc, Rejected, seal, unseal
from geodns.fleet.serials import Claim, serials_of
from geodns.model import Pool

KEY = b"a-shared-secret-of-the-fleet"


def at(seconds: float) -> int:
    return int(seconds * 1000) << SHIFT


def test_a_sealed_entry_opens_only_with_the_key_under_its_own_key() -> None:
    data = seal(KEY, "drain.x", b"payload", "ns1", at(100))
    assert unseal(KEY, "drain.x", data).value == b"payload"
    assert unseal(KEY, "drain.x", data).writer == "ns1"
    for secret, key, reason in (
        (b"another-secret-entirely", "drain.x", "bad_mac"),
        (KEY, "drain.y", "bad_mac"),
    ):
        with pytest.raises(Rejected) as info:
            unseal(secret, key, data)
        assert info.value.reason == reason
    forged = data.replace(b'"w":"ns1"', b'"w":"ns2"')
    with pytest.raises(Rejected, match="bad_mac"):
        unseal(KEY, "drain.x", forged)
    with pytest.raises(Rejected, match="unsigned"):
        unseal(KEY, "drain.x", seal(None, "drain.x", b"payload", "ns1", at(100)))
    with pytest.raises(Rejected, match="unsigned"):
        unseal(KEY, "drain.x", b'{"just": "json"}')
    with pytest.raises(Rejected, match="malformed"):
        unseal(KEY, "drain.x", b'GDNS1 {"w": 1}\nx')


def test_the_guard_refuses_the_future_and_replays_but_not_a_reread() -> None:
    guard = Guard(max_skew=30.0, wall=lambda: 1000.0)
    new = unseal(None, "k", seal(None, "k", b"2", "a", at(1000)))
    old = unseal(None, "k", seal(None, "k", b"1", "a", at(990)))
    guard.admit("k", new)
    guard.admit("k", new)  # the same entry read again after a reconnect
    with pytest.raises(Rejected, match="replay"):
        guard.admit("k", old)
    with pytest.raises(Rejected, match="future"):
        guard.admit("j", unseal(None, "j", seal(None, "j", b"", "a", at(1031))))
    guard.admit("j", unseal(None, "j", seal(None, "j", b"", "a", at(1029))))
    guard.count("k", Rejected("replay"))
    assert guard.rejected["replay"] == 1


def test_the_clock_never_goes_back_and_passes_what_it_saw() -> None:
    now = [100.0]
    clock = Hlc(lambda: now[0])
    first = clock.now()
    now[0] = 50.0  # the wall clock stepped back
    assert clock.now() > first
    clock.observe(at(200))
    assert clock.now() > at(200)


def test_serials_from_claims_depend_only_on_earlier_claims() -> None:
    claims = [Claim(3, "b", 11), Claim(1, "a", 10), Claim(7, "a", 5), Claim(5, "", 40)]
    by_content, top = serials_of(claims)
    assert by_content == {"a": 10, "b": 11} and top == 40  # a's late claim asked for <= 10
    assert serials_of(claims[:2])[0] == {"a": 10, "b": 11}  # later claims change no earlier
    racing = [Claim(1, "a", 10), Claim(2, "a", 10), Claim(3, "a", 10), Claim(4, "b", 10)]
    assert serials_of(racing) == ({"a": 10, "b": 11}, 11)  # three writers, one number
    rollback = [*claims, Claim(9, "a", 12)]  # a writer that served 11 (b) goes back to a
    assert serials_of(rollback) == ({"a": 41, "b": 11}, 41)  # above the floor-only 40


def test_drains_merge_newest_first_and_hold_for_min_healthy() -> None:
    pool = Pool("z.", "p", ("192.0.2.1", "192.0.2.2", "192.0.2.3"), min_healthy=2)
    m1, m2, m3 = pool.members()

    def drain(member, hlc, writer="a", drained=True, forced=False):
        return Drain(member, "op", "t", "", drained, None, forced, hlc, writer)

    book = DrainBook([drain(m1, 5), drain(m1, 3, drained=False), drain(m2, 7, "b")])
    assert set(book.active(0.0)) == {m1, m2}  # m1's undrain is older than its drain
    assert book.decide(0.0, [pool], lambda m: True) == {m1} and book.held == {m2}
    assert not book.merge(drain(m2, 7, "b"))  # the same record again changes nothing
    assert book.merge(drain(m2, 8, "a", drained=False))
    assert book.decide(0.0, [pool], lambda m: True) == {m1} and book.held == set()
    book.merge(drain(m3, 9, forced=True))
    assert book.decide(0.0, [pool], lambda m: True) == {m1, m3}
    expiring = Drain(m1, "op", "t", "", True, "2000-01-01T00:00:00+00:00", False, 10, "a")
    book.merge(expiring)
    assert m1 not in book.active(1e9)


def test_a_big_map_goes_in_chunks_and_heartbeats_carry_only_changes() -> None:
    from geodns.fleet.verdictmap import CHUNK_BYTES, Inbox, Outbox

    verdicts = {
        ("big.test.", f"pool{i // 100}", f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"): "up"
        for i in range(27_000)
    }
    out, inbox = Outbox(), Inbox()
    chunks, epoch, changes = out.beat("ns1", verdicts, 7)
    assert len(chunks) > 1 and all(len(c) < CHUNK_BYTES + 4096 for c in chunks)
    assert changes == [] and epoch == 7
    for chunk in chunks[:-1]:
        inbox.chunk(chunk, "ns1")
    assert inbox.verdicts("ns1", 7, []) is None  # not whole yet: no vote
    inbox.chunk(chunks[-1], "ns1")
    assert inbox.verdicts("ns1", 7, []) == verdicts
    flipped = next(iter(verdicts))
    verdicts[flipped] = "down"
    chunks, epoch, changes = out.beat("ns1", verdicts, 8)
    assert chunks == [] and epoch == 7 and changes == [[*flipped, "down"]]
    assert inbox.verdicts("ns1", 7, changes)[flipped] == "down"
    with pytest.raises(ValueError):
        inbox.chunk(out.beat("ns1", {}, 9)[0][0], "ns2")  # a map must come from its owner
