"""TCP per RFC 7766: framing, pipelining, idle and message deadlines, the connection cap."""

from __future__ import annotations

import socket
import struct
import time

import dns.message
import pytest

from tests.conftest import recv_exact
from tests.servers import ServerThread, wait_for, write_config

CORE = __import__("tests.conftest", fromlist=["CORE_ZONES"]).CORE_ZONES


def frame(msg: dns.message.Message) -> bytes:
    wire = msg.to_wire()
    return struct.pack("!H", len(wire)) + wire


def read_reply(sock: socket.socket) -> dns.message.Message:
    size = struct.unpack("!H", recv_exact(sock, 2))[0]
    return dns.message.from_wire(recv_exact(sock, size))


def test_pipelined_queries_answered_in_order(core_server: ServerThread) -> None:
    names = [f"{n}.example.test" for n in ("static", "mail", "ns1", "nope", "alias")] * 20
    queries = [dns.message.make_query(n, "A") for n in names]
    with socket.create_connection(core_server.where(4), timeout=5) as s:
        s.sendall(b"".join(frame(q) for q in queries))  # all at once, before reading
        replies = [read_reply(s) for _ in queries]
    assert [r.id for r in replies] == [q.id for q in queries]
    assert [r.question[0].name for r in replies] == [q.question[0].name for q in queries]


def test_message_split_across_segments(core_server: ServerThread) -> None:
    data = frame(dns.message.make_query("static.example.test", "A"))
    with socket.create_connection(core_server.where(4), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            s.sendall(data[i : i + 1])
        reply = read_reply(s)
    assert reply.answer


def test_segments_cutting_messages_anywhere(core_server: ServerThread) -> None:
    """A segment holding a whole message and the head of the next, then one holding that
    message's tail and another whole one: each is answered once, in order (the server
    slices messages straight from a segment and keeps only a partial tail)."""
    queries = [dns.message.make_query(f"{n}.example.test", "A") for n in ("static", "mail", "ns1")]
    first, second, third = (frame(q) for q in queries)
    cut = len(second) // 2
    with socket.create_connection(core_server.where(4), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(first + second[:cut])
        replies = [read_reply(s)]  # the first is answered before the rest is sent
        s.sendall(second[cut:] + third)
        replies += [read_reply(s), read_reply(s)]
    assert [r.id for r in replies] == [q.id for q in queries]
    assert all(r.answer for r in replies)


def test_several_queries_one_by_one(core_server: ServerThread) -> None:
    with socket.create_connection(core_server.where(4), timeout=5) as s:
        for _ in range(50):
            s.sendall(frame(dns.message.make_query("static.example.test", "AAAA")))
            assert read_reply(s).answer


def test_idle_connection_is_closed(core_server: ServerThread) -> None:
    """The fixture sets tcp_idle_timeout to 1s: an idle client sees EOF, a busy one doesn't."""
    with socket.create_connection(core_server.where(4), timeout=10) as s:
        started = time.monotonic()
        assert s.recv(1) == b""  # blocks until the server closes
        assert 0.8 <= time.monotonic() - started < 5


@pytest.fixture
def capped_server(tmp_path) -> ServerThread:
    # The cap is per process (with N workers each takes its share), and the kernel picks
    # which worker accepts a connection, so the exact cap is shown with one process.
    dns = {"listen": ["127.0.0.1:0"], "tcp_max_connections": 3, "workers": 1}
    path = write_config(tmp_path, CORE, dns=dns)
    server = ServerThread(path).start()
    yield server
    server.stop()


def _tcp_open(server: ServerThread) -> int:
    """Open TCP connections as the workers report them (what the tcp_connections gauge says)."""
    return server.call(server.app.counters).tcp_open


def _tcp_counts(server: ServerThread) -> dict[str, int]:
    return server.call(server.app.dns.refresh).tcp


def test_connection_cap_evicts_the_longest_idle(capped_server: ServerThread) -> None:
    """At the cap a newcomer takes the slot of the connection idle the longest: never more
    than the cap open, and the others keep working."""
    addr = capped_server.where(4)
    held = [socket.create_connection(addr, timeout=5) for _ in range(3)]
    try:
        wait_for(lambda: _tcp_open(capped_server) == 3)
        held[0].sendall(frame(dns.message.make_query("static.example.test", "A")))
        assert read_reply(held[0]).answer  # held[0] is now the most recently active
        with socket.create_connection(addr, timeout=5) as extra:
            extra.sendall(frame(dns.message.make_query("static.example.test", "A")))
            assert read_reply(extra).answer
            assert held[1].recv(1) == b""  # the longest idle made room
            assert _tcp_open(capped_server) == 3
            for s in (held[0], held[2]):
                s.sendall(frame(dns.message.make_query("static.example.test", "A")))
                assert read_reply(s).answer
    finally:
        for s in held:
            s.close()
    assert _tcp_counts(capped_server)["evicted"] == 1
    wait_for(lambda: _tcp_open(capped_server) == 0)


def test_connection_cap_refuses_when_no_one_can_go(capped_server: ServerThread) -> None:
    """Three messages just begun (not idle, not stalled): a fourth client is refused, and
    the three are answered when they finish."""
    addr = capped_server.where(4)
    wire = frame(dns.message.make_query("static.example.test", "A"))
    held = [socket.create_connection(addr, timeout=5) for _ in range(3)]
    try:
        for s in held:
            s.sendall(wire[:3])
        wait_for(lambda: _tcp_open(capped_server) == 3)
        with socket.create_connection(addr, timeout=5) as extra:
            assert extra.recv(1) == b""  # closed at once
        for s in held:
            s.sendall(wire[3:])
            assert read_reply(s).answer
    finally:
        for s in held:
            s.close()
    assert _tcp_counts(capped_server)["refused"] == 1
    wait_for(lambda: _tcp_open(capped_server) == 0)


def test_trickled_message_is_cut_at_its_deadline(core_server: ServerThread) -> None:
    """Bytes arriving don't move the deadline: a message must be whole within
    tcp_message_timeout (3 s by default) of its first byte, here after an answered query."""
    wire = frame(dns.message.make_query("static.example.test", "A"))
    with socket.create_connection(core_server.where(4), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(wire)
        assert read_reply(s).answer
        started, sent = time.monotonic(), 0
        with pytest.raises(ConnectionError):
            while sent < len(wire) - 1:  # 0.3 s a byte: 10 s for this message
                s.sendall(wire[sent : sent + 1])
                sent += 1
                s.settimeout(0.3)
                try:
                    if s.recv(1) == b"":
                        raise ConnectionError("closed")
                except TimeoutError:
                    continue
        assert 2.5 <= time.monotonic() - started < len(wire) * 0.3 - 1
