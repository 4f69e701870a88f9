"""TCP on the native path: the native engine answers TCP messages (the same answers as
UDP's threads, whole where UDP truncates), counted once under the tcp label; what it does
not answer (ANY) reaches the Python handler."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from geodns.native import table as native
from tests.servers import DATA, ServerThread, write_config

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> ServerThread:
    tmp = tmp_path_factory.mktemp("nativetcp")
    conf = write_config(
        tmp, DATA / "zones" / "kinds", dns={"listen": ["127.0.0.1:0"], "fast_path": "native"}
    )
    server = ServerThread(conf).start()
    yield server
    server.stop()


def tcp_counts(server: ServerThread) -> dict:
    counters = server.call(server.app.counters)
    return {k[:3]: v for k, v in counters.stats.queries.items() if k[3] == "tcp"}


def test_tcp_answers_every_kind_and_counts_once(served: ServerThread) -> None:
    host, port = served.where(4)
    before = tcp_counts(served)
    seen = set()
    for i in range(60):
        r = dns.query.tcp(dns.message.make_query("wrr.kinds.test", "A"), host, 3, port)
        seen.add(r.answer[0][0].address)
        r = dns.query.tcp(dns.message.make_query(f"h{i}.wild.kinds.test", "A"), host, 3, port)
        assert sorted(a.address for a in r.answer[0]) == ["192.0.2.98", "192.0.2.99"]
    assert seen == {"192.0.2.10", "192.0.2.20", "192.0.2.30"}  # drawn per query
    big = dns.query.tcp(dns.message.make_query("big.kinds.test", "A"), host, 3, port)
    assert len(big.answer[0]) == 40  # past 512 bytes: whole over TCP
    q = dns.message.make_query("big.kinds.test", "A", use_edns=False)
    udp = dns.query.udp(q, host, 3, port)
    assert udp.flags & dns.flags.TC and not udp.answer
    nodata = dns.query.tcp(dns.message.make_query("ns1.kinds.test", "TXT"), host, 3, port)
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.authority  # NODATA, native too
    anyq = dns.query.tcp(dns.message.make_query("ns1.kinds.test", "ANY"), host, 3, port)
    assert anyq.answer[0][0].address == "192.0.2.1"  # ANY: the handler's
    after = tcp_counts(served)

    def moved(qtype: int) -> int:
        key = ("kinds.test.", qtype, 0)
        return after.get(key, 0) - before.get(key, 0)

    assert moved(1) == 121 and moved(16) == 1 and moved(255) == 1
    stats = served.call(served.app.counters).stats
    assert sum(v for k, v in stats.by_pool.items() if k[1] == "wrr.kinds.test.") >= 60
