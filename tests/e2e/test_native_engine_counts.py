"""geodns_native_engine_queries_total: who answered each query that reached the native
engine (its UDP threads, its answer() for TCP) and which it handed to the slow handler,
over real sockets and a real `geodns serve` (what deploy/container-test.sh reads)."""

from __future__ import annotations

from pathlib import Path

import dns.message
import dns.query
import pytest

from geodns.native import table as native
from tests.e2e.test_native_metrics import ask, queries, serve, settled

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")
KEY = "geodns_native_engine_queries_total{answered_by=%s,transport=%s}"


def test_native_and_handed_queries_counted_by_transport(tmp_path: Path) -> None:
    """60 UDP and 15 TCP queries the engine answers (static, geo by ECS, NXDOMAIN); 7 UDP
    and 4 TCP of type ANY, which it leaves to the slow handler (docs/architecture.md)."""
    proc, http = serve(tmp_path)
    try:
        port = proc.bound[0][1]
        for q, _ in queries(60):
            ask(port, q)
        for q, _ in queries(15):
            dns.query.tcp(q, "127.0.0.1", port=port, timeout=3)
        any_query = dns.message.make_query("ns1.geo.test", "ANY")
        for _ in range(7):
            ask(port, any_query)
        for _ in range(4):
            dns.query.tcp(any_query, "127.0.0.1", port=port, timeout=3)
        want = {
            KEY % ("native", "udp"): 60,
            KEY % ("python", "udp"): 7,
            KEY % ("native", "tcp"): 15,
            KEY % ("python", "tcp"): 4,
        }
        seen = settled(http, want)
        assert {k: seen.get(k) for k in want} == want
    finally:
        proc.stop()
