"""geodns_native_handover_dropped_total: queries the native threads could not hand to Python
(its queue full) are counted by the threads, carried in a worker's snapshot, exported."""

from __future__ import annotations

import socket
import time

import pytest

from geodns.dns.stats import Stats
from geodns.native import table as native
from geodns.serve.channel import Totals, snapshot
from geodns.serve.tcp import TcpLimits
from tests.unit.test_native_diff import handler
from tests.unit.test_native_server import question

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")
QUEUE, SENT = 4, 60


def test_a_full_queue_drops_and_counts() -> None:
    built = native.for_handler(handler())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    server = native.server([sock.fileno()], queue=QUEUE)
    server.set_table(built.table)
    server.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for qid in range(SENT):  # a CNAME to follow for a type no entry holds: handed over
            client.sendto(question(qid, "alias.example.test", 99), sock.getsockname())
        deadline = time.monotonic() + 10
        while server.stats()["dropped"] < SENT - QUEUE and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = server.stats()
        assert (stats["queued"], stats["dropped"]) == (QUEUE, SENT - QUEUE), stats
        assert len(server.drain()) == QUEUE  # what was queued is still Python's to answer
    finally:
        server.stop()
        sock.close()
        client.close()


def test_the_count_reaches_the_metric() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from geodns.ops import metrics

    totals = Totals()
    for dropped in (7, 5):  # two workers' cumulative counts
        stats = Stats()
        stats.handover_dropped = dropped
        totals.add(snapshot(stats, TcpLimits(), (0, 0)))
    assert totals.copy().stats.handover_dropped == 12
    registry = CollectorRegistry()
    for metric in metrics.GeoDNSCollector._dns(totals.stats):  # the family that carries it
        registry.register(_Fixed(metric))
    assert b"geodns_native_handover_dropped_total 12.0" in generate_latest(registry)


class _Fixed:
    def __init__(self, metric) -> None:
        self.metric = metric

    def collect(self):
        yield self.metric
