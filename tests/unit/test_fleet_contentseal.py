"""Zone records on the bus: sealed, refused by reason, replays and future dates told apart,
and a key's history read back without what was refused (fleet/contentseal.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from geodns.fleet.contentseal import Entry, ZoneSeal
from geodns.fleet.seal import SHIFT, Rejected, seal

KEY = "zone.api.test"
SECRET = b"a-fleet-key-of-some-length"
RECORD = {"document": {"zone": "api.test."}, "serial": 7, "who": "t", "time": 1.0, "summary": ""}
NOW = 1_000_000.0  # the receiver's clock, epoch seconds


def stamp(seconds: float, counter: int = 0) -> int:
    return (int(seconds * 1000) << SHIFT) | counter


def sealed(record: dict, at: float, writer: str = "w", secret: bytes = SECRET) -> bytes:
    return seal(secret, KEY, json.dumps(record).encode(), writer, stamp(at))


def zs(secret: bytes | None = SECRET) -> ZoneSeal:
    return ZoneSeal(secret, "me", 30.0, wall=lambda: NOW)


def reason(box: ZoneSeal, revision: int, value: bytes) -> str:
    with pytest.raises(Rejected) as caught:
        box.admit(KEY, revision, value)
    return caught.value.reason


def test_what_we_seal_we_admit_with_writer_and_time() -> None:
    box = zs()
    data, at = box.encode(KEY, RECORD)
    entry = box.admit(KEY, 5, data)
    assert (entry.revision, entry.serial, entry.writer) == (5, 7, "me")
    assert entry.at == at and at >> SHIFT == 1_000_000_000


def test_each_forgery_has_its_reason() -> None:
    box = zs()
    assert box.admit(KEY, 2, sealed(RECORD, NOW - 10)).serial == 7
    assert reason(box, 3, b"\x00\xff junk") == "unsigned"
    assert reason(box, 4, json.dumps(RECORD).encode()) == "unsigned"  # plain JSON
    assert reason(box, 5, sealed(RECORD, NOW, secret=b"another-key-entirely")) == "bad_mac"
    assert reason(box, 6, sealed(RECORD, NOW + 31)) == "future"
    assert reason(box, 7, sealed(RECORD, NOW - 20)) == "replay"  # older than applied
    assert reason(box, 8, sealed(RECORD, NOW - 10)) == "replay"  # the same, at a new revision
    assert reason(box, 9, sealed({"document": [1]}, NOW)) == "malformed"
    assert box.admit(KEY, 2, sealed(RECORD, NOW - 10)).revision == 2  # re-read: admitted
    assert box.admit(KEY, 10, sealed(RECORD, NOW + 29)).revision == 10  # within max_skew
    assert box.take(KEY, 11, b"junk") is None
    assert box.guard.rejected["unsigned"] == 1  # only take() counts


def test_without_a_key_plain_json_is_the_oldest_and_a_mac_is_not_needed() -> None:
    box = zs(None)
    assert box.admit(KEY, 1, json.dumps(RECORD).encode()).at == 0
    assert box.admit(KEY, 2, sealed(RECORD, NOW, secret=b"anything-at-all-here")).at == stamp(NOW)
    assert reason(box, 3, json.dumps(RECORD).encode()) == "replay"
    assert reason(box, 4, b"junk") == "malformed"


def test_a_kept_copy_refuses_a_replay_put_while_away() -> None:
    box = zs()
    box.remember(KEY, Entry(4, RECORD, "w", stamp(NOW - 5)))
    assert reason(box, 6, sealed(RECORD, NOW - 50)) == "replay"
    assert box.hlc.now() > stamp(NOW - 5)
    assert box.admit(KEY, 7, sealed(RECORD, NOW - 4)).revision == 7


def test_history_without_forgeries_or_replays() -> None:
    def got(revision: int, value: bytes, op: str | None = None) -> SimpleNamespace:
        return SimpleNamespace(revision=revision, value=value, operation=op)

    history = [
        got(1, sealed(RECORD, NOW - 100)),
        got(2, sealed({**RECORD, "serial": 8}, NOW - 50, "x")),
        got(3, sealed(RECORD, NOW - 100)),  # replay of 1
        got(4, b"junk"),
        got(5, sealed(RECORD, NOW + 3600)),  # future
        got(6, b"", "DEL"),
        got(7, sealed({**RECORD, "serial": 9}, NOW - 50, "y")),  # same time, later writer
        got(8, sealed(RECORD, NOW - 1, secret=b"another-key-entirely")),
    ]
    assert [e.revision for e in zs().sound(KEY, history)] == [1, 2, 7]
    assert zs().guard.rejected == {}
