"""SIGTERM: `geodns serve` stops reading, answers what is in flight, says so, exits 0."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import struct
import time

import dns.message
import dns.query
import pytest

from tests.conftest import CORE_ZONES, recv_exact
from tests.servers import ServerProcess, wait_for, write_config

NAMES = ["static.example.test", "mail.example.test", "nope.example.test", "alias.example.test"]


def frame(msg: dns.message.Message) -> bytes:
    wire = msg.to_wire()
    return struct.pack("!H", len(wire)) + wire


def read_reply(sock: socket.socket) -> dns.message.Message:
    size = struct.unpack("!H", recv_exact(sock, 2))[0]
    return dns.message.from_wire(recv_exact(sock, size))


def start(tmp_path, workers: int) -> ServerProcess:
    dns_conf = {"listen": ["127.0.0.1:0"], "workers": workers}
    path = write_config(tmp_path, CORE_ZONES, dns=dns_conf, http={"listen": None})
    return ServerProcess(["serve", "--config", str(path)]).start()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_answers_pipelined_queries_in_flight(tmp_path, workers: int) -> None:
    server = start(tmp_path, workers)
    queries = [dns.message.make_query(NAMES[i % len(NAMES)], "A") for i in range(20)]
    try:
        with socket.create_connection(server.bound[0], timeout=10) as sock:
            sock.sendall(b"".join(frame(q) for q in queries))
            server.signal(signal.SIGTERM)  # at once: the 20 are in flight
            replies = [read_reply(sock) for _ in queries]
            assert sock.recv(1) == b""  # then the server closes the connection
        assert server.proc.wait(15) == 0
    finally:
        code = server.stop()
    assert [r.id for r in replies] == [q.id for q in queries]
    assert code == 0
    assert "shutting down: SIGTERM received" in server.log
    assert "Traceback" not in server.log and "killing" not in server.log


def test_sigterm_cuts_a_stalled_message_within_the_grace(tmp_path) -> None:
    """A client in the middle of a message does not hold the exit up past its deadline."""
    server = start(tmp_path, 1)
    wire = frame(dns.message.make_query("static.example.test", "A"))
    try:
        with socket.create_connection(server.bound[0], timeout=10) as held:
            held.sendall(wire[:5])  # and never the rest
            with socket.create_connection(server.bound[0], timeout=10) as sock:
                sock.sendall(wire)
                assert read_reply(sock).answer  # both connections are in the worker now
            started = time.monotonic()
            server.signal(signal.SIGTERM)
            assert held.recv(1) == b""
            assert server.proc.wait(15) == 0
            assert time.monotonic() - started < 10  # message deadline 3 s, grace 5 s
    finally:
        server.stop()
    wait_for(lambda: "stopped" in server.log, timeout=5)


def test_shut_down_answers_what_waits_in_the_socket_queues() -> None:
    """Connections the kernel accepted and datagrams it received before the stop, but that
    the loop never got to, are answered: nobody else will, and closing would reset them."""
    import uvloop

    from geodns.dns.stats import Stats
    from geodns.serve.protocols import DnsServer

    def echo(query: bytes, source: str, max_size: int, count) -> bytes:
        return b"re:" + query

    async def scenario() -> tuple[list[bytes], bytes]:
        loop = asyncio.get_running_loop()
        server = DnsServer(echo, [("127.0.0.1", 0)], Stats())
        await server.__aenter__()
        addr = server.bound[0]
        # No await from here to shut_down: the loop cannot accept nor read these first.
        clients = [socket.create_connection(addr, timeout=5) for _ in range(3)]
        for n, client in enumerate(clients):
            client.sendall(struct.pack("!H", 2) + b"q%d" % n)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"u0", addr)
        await server.shut_down()
        replies = []
        for client in clients:
            client.setblocking(False)
            replies.append(await asyncio.wait_for(loop.sock_recv(client, 100), 5))
            client.close()
        udp.setblocking(False)
        datagram = await asyncio.wait_for(loop.sock_recv(udp, 100), 5)
        udp.close()
        await server.__aexit__(None, None, None)
        return replies, datagram

    replies, datagram = uvloop.run(scenario())
    assert replies == [struct.pack("!H", 5) + b"re:q%d" % n for n in range(3)]
    assert datagram == b"re:u0"


def worker_pids(server: ServerProcess) -> list[int]:
    return [int(pid) for pid in re.findall(r"started \(pid (\d+)", server.log)]


def test_sigterm_to_every_process_is_one_graceful_stop(tmp_path) -> None:
    """As systemd stops a unit: SIGTERM to the workers and the supervisor at once. The
    queries in flight are answered and no worker is replaced on the way out."""
    server = start(tmp_path, 2)
    queries = [dns.message.make_query(NAMES[i % len(NAMES)], "A") for i in range(20)]
    try:
        with socket.create_connection(server.bound[0], timeout=10) as sock:
            sock.sendall(b"".join(frame(q) for q in queries))
            for pid in [*worker_pids(server), server.proc.pid]:  # the workers first
                os.kill(pid, signal.SIGTERM)
            replies = [read_reply(sock) for _ in queries]
        assert server.proc.wait(15) == 0
    finally:
        server.stop()
    assert [r.id for r in replies] == [q.id for q in queries]
    assert "starting a new one" not in server.log and "Traceback" not in server.log


def test_a_worker_sent_sigterm_alone_is_replaced(tmp_path) -> None:
    server = start(tmp_path, 1)
    try:
        (first,) = worker_pids(server)
        os.kill(first, signal.SIGTERM)
        wait_for(lambda: len(worker_pids(server)) == 2, timeout=15)
        host, port = server.bound[0]
        query = dns.message.make_query("static.example.test", "A")
        assert dns.query.udp(query, host, port=port, timeout=5).answer
    finally:
        assert server.stop() == 0
    assert f"worker 0 (pid {first}) died (exit code 0); starting a new one" in server.log
