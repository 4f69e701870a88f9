"""Shared fixtures: real servers on ephemeral loopback ports, and the same checks run direct."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import pytest

from tests.servers import DATA, ServerThread, write_config

CORE_ZONES = DATA / "zones" / "core"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAS_IPV6 = _ipv6_loopback()


@pytest.fixture(scope="module")
def core_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One server with the core zone for a whole module (starting one costs ~100 ms)."""
    tmp = tmp_path_factory.mktemp("core")
    listen = ["127.0.0.1:0", "[::1]:0"] if HAS_IPV6 else ["127.0.0.1:0"]
    path = write_config(tmp, CORE_ZONES, dns={"listen": listen, "tcp_idle_timeout": "1s"})
    server = ServerThread(path).start()
    yield server
    server.stop()


def raw_udp(addr: tuple[str, int], data: bytes, timeout: float = 2.0) -> bytes | None:
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, addr)
        try:
            return s.recv(65535)
        except TimeoutError:
            return None


def recv_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def raw_tcp(addr: tuple[str, int], data: bytes, timeout: float = 2.0) -> bytes | None:
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(struct.pack("!H", len(data)) + data)
        try:
            size = struct.unpack("!H", recv_exact(s, 2))[0]
        except (TimeoutError, ConnectionError):
            return None
        return recv_exact(s, size)
    del family


TRANSPORTS = ["direct", "udp4", "tcp4", "udp6", "tcp6"]


@pytest.fixture(params=TRANSPORTS)
def ask_raw(request: pytest.FixtureRequest, core_server: ServerThread) -> Callable:
    """Send raw query bytes over one transport; returns reply bytes or None (dropped)."""
    kind = request.param
    if kind.endswith("6") and not HAS_IPV6:
        pytest.skip("no IPv6 loopback")
    if kind == "direct":
        handler = core_server.app.handler

        def direct(data: bytes) -> bytes | None:
            count = handler.stats.udp
            return core_server.call(lambda: handler.handle(data, "127.0.0.1", 512, count))

        direct.transport = "udp"  # type: ignore[attr-defined]
        return direct
    addr = core_server.where(6 if kind.endswith("6") else 4)
    fn = raw_udp if kind.startswith("udp") else raw_tcp

    def send(data: bytes) -> bytes | None:
        return fn(addr, data)

    send.transport = kind[:3]  # type: ignore[attr-defined]
    return send


@pytest.fixture
def ask(ask_raw: Callable) -> Callable:
    """Send a dnspython message; returns the parsed reply."""

    def run(query: dns.message.Message) -> dns.message.Message:
        reply = ask_raw(query.to_wire())
        assert reply is not None, "no reply"
        return dns.message.from_wire(reply, ignore_trailing=False)

    run.transport = ask_raw.transport  # type: ignore[attr-defined]
    return run


def zone_path(name: str) -> Path:
    return DATA / "zones" / name
