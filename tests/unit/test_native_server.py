"""geodns._native.Server on a real loopback socket: native threads answer while tables and
decisions are swapped under them hundreds of times (the epoch scheme), hand the rest over
with its source, count what they answer, and stop cleanly."""

from __future__ import annotations

import asyncio
import random
import select
import socket
import struct
import threading
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from geodns.dns.stats import Stats
from geodns.native import decisions as nativepolicy
from geodns.native import table as native
from geodns.native.udp import NativeUdp
from geodns.serve.protocols import DnsServer, TcpLimits
from geodns.serve.tcp import errors
from tests.unit.test_native_diff import DOWN, Down, handler, wire_name

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")


def question(qid: int, name: str, qtype: int = 1) -> bytes:
    head = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    return head + wire_name(name) + struct.pack("!HH", qtype, 1)


def test_swaps_under_load_lose_nothing() -> None:
    up, down = handler(), handler(health=Down(DOWN[0], 1))
    built = native.for_handler(up)
    decisions = [nativepolicy.decisions(built, h.health) for h in (up, down)]
    server_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server_sock.bind(("127.0.0.1", 0))
    server_sock.setblocking(False)
    addr = server_sock.getsockname()
    server = native.server([server_sock.fileno()], threads=2)
    server.set_table(built.table)
    server.set_decisions(decisions[0])
    server.start()
    names = ["static.example.test", "fo.geo.test", "nothing.example.test", "static.example.test"]
    types = [1, 1, 1, 255]  # ANY: handed over
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    total, got, stop = 3000, {}, threading.Event()

    def swapper() -> None:
        rng = random.Random(1)
        while not stop.is_set():
            server.set_decisions(rng.choice(decisions))
            if rng.random() < 0.1:
                server.set_table(built.table)

    def python_side() -> None:  # what the worker's event loop does with handed queries
        while not stop.is_set():
            ready, _, _ = select.select([server.wakefd], [], [], 0.05)
            for data, source, _index in server.drain() if ready else []:
                reply = up.handle(data, source[0])
                if reply is not None:
                    server_sock.sendto(reply, source)

    threads = [threading.Thread(target=swapper), threading.Thread(target=python_side)]
    for t in threads:
        t.start()
    try:
        for qid in range(total):
            client.sendto(question(qid, names[qid % len(names)], types[qid % 4]), addr)
            reply = client.recv(4096)
            got[struct.unpack("!H", reply[:2])[0]] = reply
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        server.stop()
    assert len(got) == total
    for qid, reply in got.items():
        data = question(qid, names[qid % len(names)], types[qid % 4])
        refs = {up.handle(data, "127.0.0.1"), down.handle(data, "127.0.0.1")}
        assert reply in refs, (qid, reply.hex())
    stats = server.stats()
    assert stats["answered"] >= total // 2 and stats["handed"] >= total // 4, stats
    assert stats["retired"] == 0  # every swapped-out table and decisions released
    counts = server.counts()
    assert sum(v for k, v in counts.items() if not k >> 62) == stats["answered"]


def test_stop_is_prompt_and_idempotent() -> None:
    h = handler()
    built = native.for_handler(h)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    server = native.server([sock.fileno()])
    server.set_table(built.table)
    server.start()
    assert server.running
    started = time.monotonic()
    server.stop()
    server.stop()
    assert not server.running and time.monotonic() - started < 1.0
    with pytest.raises(RuntimeError):
        native.server([sock.fileno()]).start()  # no table yet


async def test_handed_query_crash_answered_servfail() -> None:
    """Behind native threads, a query they hand over whose handling raises is answered
    SERVFAIL and counted, as over UdpProtocol; one they answer never reaches the handler."""
    h = handler()
    built = native.for_handler(h)
    calls = []

    def broken(data: bytes, host: str, size: int, count) -> bytes:
        calls.append(data)
        raise RuntimeError("boom")

    stats = Stats()
    server = DnsServer(broken, [("127.0.0.1", 0)], stats, TcpLimits())
    server.native = lambda socks: NativeUdp(
        built, socks, broken, stats.udp, stats, failed=errors.failed
    )
    async with server:
        host, port = server.bound[0]
        static = dns.message.make_query("static.example.test", "A")
        handed = dns.message.make_query("static.example.test", "ANY")  # Python's
        ok = await asyncio.to_thread(dns.query.udp, static, host, 3, port)
        failed = await asyncio.to_thread(dns.query.udp, handed, host, 3, port)
    assert ok.rcode() == dns.rcode.NOERROR and len(calls) == 1
    assert failed.rcode() == dns.rcode.SERVFAIL and failed.id == handed.id
    assert stats.queries[("", 0, 2, "udp")] == 1
