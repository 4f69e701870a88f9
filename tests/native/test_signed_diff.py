"""Signed zones on the native engine: a DO query for a name in a signed zone is handed to
the Python handler (it signs), every other query is answered natively as before, byte for
byte the handler's; an unsigned zone beside it keeps its DO answers native."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from geodns.dns.handler import Handler
from geodns.native import decisions as nativepolicy
from geodns.native import table as native
from tests.handlers import production_handler
from tests.native import test_kinds_diff as kinds
from tests.native.draws import SharedDraws
from tests.servers import DATA

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")


def signed_handler(keys: Path, board: kinds.Board) -> Handler:
    subprocess.run(
        [sys.executable, "-m", "geodns", "dnssec", "keygen", "kinds.test.", "--dir", str(keys)],
        check=True,
        capture_output=True,
    )
    folders = [DATA / "zones" / "kinds", DATA / "zones" / "core"]
    h = production_handler(folders, health=board, rng=SharedDraws(3), dnssec={"key_dir": str(keys)})
    assert h.table.signed == {b"\x05kinds\x04test\x00"}
    return h


def test_do_queries_of_signed_zones_are_handed_over(tmp_path: Path) -> None:
    board = kinds.Board()
    h = signed_handler(tmp_path / "keys", board)
    built = native.for_handler(h)
    dec = nativepolicy.decisions(built, board)
    rng = random.Random(2)
    seen: Counter = Counter()
    for i in range(20000):
        data = kinds.query(rng, chased=bool(i & 1))
        if i % 3 == 0:  # the core zone, unsigned: DO answers stay native
            data = data.replace(b"\x05kinds\x04test\x00", b"\x07example\x04test\x00")
        opt = data.index(b"\0", 12) + 5  # the OPT record after the question, when any
        do = data[10:12] == b"\0\1" and data[opt + 7] & 0x80
        signed = b"\x05kinds\x04test\x00" in data.lower()
        answered = kinds.check(h, built, dec, data, kinds.host(rng))
        seen[(bool(do), signed, answered)] += 1
    assert seen[(True, True, True)] == 0, seen  # DO in the signed zone: always Python's
    assert seen[(False, True, True)] > 3000 and seen[(True, False, True)] > 100, seen
