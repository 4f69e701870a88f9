"""1,500 slow-header clients on the API of `geodns serve` held to 1,024 descriptors (soft and
hard): after 20 s, DNS over TCP and /healthz are still served."""

from __future__ import annotations

import os
import re
import resource
import socket
import time
from pathlib import Path

import dns.message
import dns.query

from tests.servers import DATA, ServerProcess, wait_for, write_config

CLIENTS = 1500
HOLD = 20.0
FD_LIMIT = 1024


def _limit_descriptors() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


class LimitedServer(ServerProcess):
    """`geodns serve` whose soft and hard RLIMIT_NOFILE are both 1,024: it cannot raise them."""

    preexec = staticmethod(_limit_descriptors)

    def http(self) -> tuple[str, int]:
        match = wait_for(lambda: re.search(r"HTTP API on http://([\d.]+):(\d+)", self.log), 10)
        return match.group(1), int(match.group(2))

    def open_descriptors(self) -> int:
        assert self.proc is not None
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


def healthz(addr: tuple[str, int]) -> bytes:
    """A plain GET over a raw socket; the whole reply."""
    with socket.create_connection(addr, timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: geodns\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def slow_clients(addr: tuple[str, int], count: int) -> list[socket.socket]:
    """Connect, send half a request line, hold; those the server refuses are kept too."""
    socks = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(3)
        try:
            sock.connect(addr)
            sock.sendall(b"GET /heal")
        except OSError:  # refused at the cap: reset, or the connect timed out in the backlog
            pass
        socks.append(sock)
    return socks


def test_slow_header_flood_under_1024_descriptors(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < CLIENTS + 200:  # this test process holds the 1,500 client sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    config = write_config(tmp_path, DATA / "zones" / "core")  # http: every default
    server = LimitedServer(["serve", "--config", str(config)]).start()
    try:
        api, dns_addr = server.http(), server.bound[0]
        assert f"open files: limit {FD_LIMIT} (soft = hard)" in server.log
        query = dns.message.make_query("static.example.test.", "A")
        socks = slow_clients(api, CLIENTS)
        start = time.monotonic()
        peak = 0
        while time.monotonic() - start < HOLD:
            peak = max(peak, server.open_descriptors())
            reply = dns.query.tcp(query, dns_addr[0], port=dns_addr[1], timeout=3)
            assert reply.answer, "DNS over TCP not answered during the flood"
            time.sleep(0.5)
        assert peak < FD_LIMIT - 100, peak  # the cap (256) held, never near the limit
        assert healthz(api).startswith(b"HTTP/1.1 200"), "GET /healthz not served"
        reply = dns.query.tcp(query, dns_addr[0], port=dns_addr[1], timeout=3)
        assert reply.answer
        for sock in socks:
            sock.close()
        assert "connection cap (256) reached" in server.log
        assert "Traceback" not in server.log
    finally:
        assert server.stop() == 0, server.log
