"""Hostile input: random, truncated and mutated datagrams and broken TCP streams."""

from __future__ import annotations

import random
import socket
import struct

import dns.message
import dns.query
import pytest

from tests.servers import DATA, ServerProcess, write_config

# Answered natively or in Python: `make test` runs these again on the Python fast path
# (-m fast_path).
pytestmark = [pytest.mark.fast_path]

SEEDS = [
    dns.message.make_query("static.example.test", "A"),
    dns.message.make_query("www.example.test", "AAAA", use_edns=0),
    dns.message.make_query("a.edge.example.test", "TXT", want_dnssec=True),
    dns.message.make_query("host.sub.example.test", "A"),
    dns.message.make_query("alias2.example.test", "A", use_edns=0, payload=4096),
]


def mutations(rng: random.Random, count: int):
    seeds = [q.to_wire() for q in SEEDS]
    for i in range(count):
        base = bytearray(rng.choice(seeds))
        kind = i % 5
        if kind == 0:
            yield rng.randbytes(rng.randrange(0, 600))
        elif kind == 1:
            yield bytes(base[: rng.randrange(0, len(base))])
        elif kind == 2:
            for _ in range(rng.randrange(1, 6)):
                base[rng.randrange(len(base))] = rng.randrange(256)
            yield bytes(base)
        elif kind == 3:
            base[2] &= 0x7F  # keep QR clear so the server does parse it
            pos = rng.randrange(12, len(base))
            yield bytes(base[:pos] + rng.randbytes(rng.randrange(1, 40)) + base[pos:])
        else:
            header = struct.pack(
                "!HHHHHH",
                i & 0xFFFF,
                rng.randrange(1 << 16),
                *(rng.choice([0, 1, 2, 0xFFFF]) for _ in range(4)),
            )
            yield header + bytes(base[12:])


@pytest.fixture
def server(tmp_path):
    conf = write_config(
        tmp_path, DATA / "zones" / "core", dns={"listen": ["127.0.0.1:0"], "tcp_idle_timeout": "2s"}
    )
    proc = ServerProcess(["serve", "--config", str(conf)]).start()
    yield proc
    proc.stop()


def still_answers(addr) -> None:
    q = dns.message.make_query("static.example.test", "A")
    reply = dns.query.udp(q, addr[0], port=addr[1], timeout=3)
    assert {rd.address for rd in reply.answer[0]} == {"192.0.2.1", "192.0.2.2"}
    reply = dns.query.tcp(q, addr[0], port=addr[1], timeout=3)
    assert {rd.address for rd in reply.answer[0]} == {"192.0.2.1", "192.0.2.2"}


def test_fuzzed_datagrams_and_tcp_streams(server: ServerProcess) -> None:
    addr = server.bound[0]
    rng = random.Random(7871)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        for n, packet in enumerate(mutations(rng, 10_000)):
            s.sendto(packet, addr)
            if n % 200 == 0:  # drain replies now and then so our socket buffer never fills
                try:
                    while s.recv(65535):
                        pass
                except BlockingIOError:
                    pass
    still_answers(addr)
    for i in range(100):
        with socket.create_connection(addr, timeout=3) as t:
            wire = rng.choice(SEEDS).to_wire()
            kind = i % 4
            if kind == 0:  # a length prefix promising more than ever comes
                t.sendall(struct.pack("!H", 65535) + wire)
            elif kind == 1:  # garbage framed correctly
                junk = rng.randbytes(rng.randrange(0, 300))
                t.sendall(struct.pack("!H", len(junk)) + junk)
            elif kind == 2:  # half a length prefix, then a reset
                t.sendall(b"\x00")
                t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:  # a valid query cut short
                t.sendall(struct.pack("!H", len(wire)) + wire[: len(wire) // 2])
    still_answers(addr)
    server.stop()
    assert "Traceback" not in server.log
    assert "internal error" not in server.log
