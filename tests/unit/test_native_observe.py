"""The native engine's observations as Python reads them: the histogram bounds are the
Python histograms' (so the two add bucket by bucket), and a full query log ring drops and
counts, never waits."""

from __future__ import annotations

import os

import pytest

from geodns.dns import stats
from geodns.native import table as native

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")


def test_the_histogram_bounds_are_the_python_ones() -> None:
    engine = native.engine()
    assert engine.LATENCY_BOUNDS == stats.BUCKETS
    assert engine.SIZE_BOUNDS == stats.SIZE_BUCKETS


def test_a_full_ring_drops_and_counts_without_waiting() -> None:
    """No writer running: the event loop's ring (4 MiB) fills, then every push is refused
    at once and counted; started, the writer drains what was kept and the ring takes more."""
    engine = native.engine()
    read, write = os.pipe()
    os.set_blocking(read, False)
    log = engine.QueryLog(1, fd=write, types={1: "A"}, rcodes={0: "NOERROR"})
    query = bytes.fromhex("abcd01000001000000000000") + b"\x03www\x04test\x00\x00\x01\x00\x01"
    reply = bytes([0xAB, 0xCD, 0x81, 0x80]) + query[4:]
    pushed = 0
    while log.push(query, reply, "192.0.2.1", 53000, "127.0.0.1", 53, False, "test.", None,
                   5000, engine.LOG_TEXT, True):  # fmt: skip
        pushed += 1
        assert pushed < 100_000
    refused = 10
    for _ in range(refused):
        assert not log.push(query, reply, "192.0.2.1", 1, "127.0.0.1", 53, False, None, None,
                            1, engine.LOG_TEXT, True)  # fmt: skip
    assert log.stats()["dropped"] == refused + 1
    log.start()
    out = b""
    while out.count(b"\n") < pushed:
        try:
            out += os.read(read, 1 << 20)
        except BlockingIOError:
            os.sched_yield()
    log.stop()
    os.close(read)
    os.close(write)
    lines = out.decode().splitlines()
    assert len(lines) == pushed and log.stats()["written"] == pushed
    assert lines[0].split(" INFO geodns.query: ")[1] == (
        "query from 192.0.2.1: zone test. pool None scope 0 rcode NOERROR name www.test. "
        "type A size 26 us 5 path native"
    )
