"""Reload under load: queries never fail, and answers change exactly when a good reload lands."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.conftest import recv_exact
from tests.servers import ServerThread, write_config

# Who answers matters here: `make test` runs these again with two workers and on the
# Python fast path (-m workers, -m fast_path).
pytestmark = [pytest.mark.workers, pytest.mark.fast_path]

GOOD = """\
zone: load.test.
ttl: 5
ns: [ns1.load.test.]
records:
  ns1: {{A: 192.0.2.53}}
  ver: {{A: 10.0.0.{n}}}
"""
BROKEN = GOOD.replace("ver: {{A: 10.0.0.{n}}}", "ver: {{A: 10.0.0.{n}, CNAME: nope}}")


class Client(threading.Thread):
    """Queries `ver` over UDP or one TCP connection as fast as it can, recording answers."""

    def __init__(self, addr: tuple[str, int], tcp: bool, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.addr, self.tcp, self.stop = addr, tcp, stop
        self.seen: list[int] = []
        self.failures: list[str] = []
        self.reconnects = 0

    def ask_tcp(self, conn: socket.socket, wire: bytes) -> dns.message.Message:
        conn.sendall(struct.pack("!H", len(wire)) + wire)
        size = struct.unpack("!H", recv_exact(conn, 2))[0]
        return dns.message.from_wire(recv_exact(conn, size))

    def run(self) -> None:
        query = dns.message.make_query("ver.load.test", "A")
        conn = socket.create_connection(self.addr, timeout=3) if self.tcp else None
        while not self.stop.is_set():
            try:
                if conn is not None:
                    wire = query.to_wire()
                    try:
                        reply = self.ask_tcp(conn, wire)
                    except ConnectionError:
                        # The server closed the connection before answering (RFC 7766
                        # 6.2.3 allows it; worker processes do it when they hand over on
                        # reload): a resolver asks again on a new connection.
                        conn.close()
                        self.reconnects += 1
                        conn = socket.create_connection(self.addr, timeout=3)
                        reply = self.ask_tcp(conn, wire)
                else:
                    reply = dns.query.udp(query, self.addr[0], port=self.addr[1], timeout=2)
                if reply.rcode() != 0 or not reply.answer:
                    self.failures.append(f"rcode {reply.rcode()}")
                else:
                    self.seen.append(int(reply.answer[0][0].address.rsplit(".", 1)[1]))
            except Exception as exc:  # a lost or broken answer is what this test looks for
                self.failures.append(repr(exc))
        if conn is not None:
            conn.close()


def test_twenty_reloads_under_load(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    zone_file = zones / "load.test.yaml"
    zone_file.write_text(GOOD.format(n=0))
    server = ServerThread(write_config(tmp_path, zones, dns={"listen": ["127.0.0.1:0"]})).start()
    stop = threading.Event()
    clients = [Client(server.where(4), tcp, stop) for tcp in (False, False, True)]
    for c in clients:
        c.start()
    try:
        expected = 0
        for i in range(1, 21):
            broken = i % 4 == 0
            zone_file.write_text((BROKEN if broken else GOOD).format(n=i))
            ok = server.call(server.app.reload)
            assert ok is (not broken)
            if ok:
                expected = i
            # the swap is one reference: the very next query sees exactly the new table
            reply = dns.query.udp(
                dns.message.make_query("ver.load.test", "A"),
                *server.where(4)[:1],
                port=server.port,
                timeout=2,
            )
            assert reply.answer[0][0].address == f"10.0.0.{expected}"
    finally:
        stop.set()
        for c in clients:
            c.join(10)
        server.stop()
    for c in clients:
        assert not c.failures, c.failures[:5]
        # a new worker generation answers after a reload: the old one closes its TCP
        # connections once it has answered what they sent, and the client reconnects
        assert c.reconnects <= 20
        assert len(c.seen) > 50
        assert c.seen == sorted(c.seen)  # never an older answer after a newer one
        assert set(c.seen) <= {0} | {i for i in range(1, 21) if i % 4}
    assert server.app.reloads.ok == 15 and server.app.reloads.error == 5
