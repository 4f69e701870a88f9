"""UDP and TCP protocols: frame, call the handler, send; nothing about DNS itself."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("geodns.server")

# handle(query, source address, the reply size this transport carries, its query counter)
Count = Callable[[str | None, int, int], None]
Handle = Callable[[bytes, str, int, Count], "bytes | None"]
MAX_TCP_BUFFER = 2 + 65535  # one full message and its length prefix
UDP_SIZE = 512  # a datagram reply, unless the query's EDNS payload says more (RFC 1035, 6891)
TCP_SIZE = 65535  # what the 2-byte length prefix can frame (RFC 7766)


class _ErrorLog:
    """Logs handler crashes at most once a second, so a hostile stream can't flood the log."""

    def __init__(self) -> None:
        self.last = 0.0
        self.suppressed = 0

    def report(self, where: str) -> None:
        now = time.monotonic()
        if now - self.last < 1.0:
            self.suppressed += 1
            return
        self.last = now
        log.exception("internal error answering %s (%d similar suppressed)", where, self.suppressed)
        self.suppressed = 0


_errors = _ErrorLog()


SAMPLE_MASK = 31  # time 1 query in 32: the histogram costs two clock reads, not every query


class UdpProtocol(asyncio.DatagramProtocol):
    """One datagram in, at most one out; a handler bug costs one answer, not the server."""

    def __init__(
        self, handle: Handle, count: Count, observe: Callable[[float], None] | None = None
    ) -> None:
        self.handle = handle
        self.count = count
        self.observe = observe
        self.sendto: Callable | None = None
        self.seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.sendto = transport.sendto  # type: ignore[attr-defined]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.seen += 1
        timed = self.observe is not None and not self.seen & SAMPLE_MASK
        started = time.perf_counter() if timed else 0.0
        try:
            resp = self.handle(data, addr[0], UDP_SIZE, self.count)
        except Exception:
            _errors.report(f"UDP query from {addr[0]}")
            return
        if resp is not None:
            self.sendto(resp, addr)  # type: ignore[misc]
        if timed:
            self.observe(time.perf_counter() - started)  # type: ignore[misc]

    def error_received(self, exc: Exception) -> None:
        """ICMP errors for earlier replies (a client that went away) are not our problem."""


@dataclass
class TcpLimits:
    idle_timeout: float = 10.0
    max_connections: int = 1000
    open: int = 0  # connections now open; read by the tcp_connections metric
    accepted: int = 0
    refused: int = 0
    transports: set = field(default_factory=set)  # closed on shutdown


class TcpProtocol(asyncio.Protocol):
    """RFC 7766: 2-byte framing, many and pipelined queries per connection, idle timeout."""

    def __init__(self, handle: Handle, limits: TcpLimits, count: Count) -> None:
        self.handle = handle
        self.limits = limits
        self.count = count
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.last_active = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.counted = False
        self.closing = False  # retired worker: close once what was received is answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        limits = self.limits
        if limits.open >= limits.max_connections:
            limits.refused += 1
            transport.close()
            return
        limits.open += 1
        limits.accepted += 1
        limits.transports.add(transport)
        self.counted = True
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        self.last_active = time.monotonic()
        self.timer = asyncio.get_running_loop().call_later(limits.idle_timeout, self._idle_check)

    def _idle_check(self) -> None:
        idle = time.monotonic() - self.last_active
        if idle >= self.limits.idle_timeout:
            self.transport.close()  # type: ignore[union-attr]
            return
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.limits.idle_timeout - idle, self._idle_check)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        buf = self.buffer
        buf += data
        out = []
        while len(buf) >= 2:
            size = buf[0] << 8 | buf[1]
            if len(buf) < 2 + size:
                break
            message = bytes(buf[2 : 2 + size])
            del buf[: 2 + size]
            try:
                resp = self.handle(message, self.peer, TCP_SIZE, self.count)
            except Exception:
                _errors.report(f"TCP query from {self.peer}")
                continue
            if resp is not None:
                out.append(len(resp).to_bytes(2, "big") + resp)
        if out:
            self.transport.write(b"".join(out))  # type: ignore[union-attr]
        if self.closing and not buf:
            self.transport.close()  # type: ignore[union-attr]  # flushes the answers first
        if len(buf) > MAX_TCP_BUFFER:  # cannot happen with valid framing; belt and braces
            self.transport.close()  # type: ignore[union-attr]

    def pause_writing(self) -> None:
        """A client that does not read its answers stops being read (back-pressure)."""
        self.transport.pause_reading()  # type: ignore[union-attr]

    def resume_writing(self) -> None:
        self.transport.resume_reading()  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        return False  # close our side too once the client is done sending

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.counted:
            self.limits.open -= 1
            self.limits.transports.discard(self.transport)
            self.counted = False


def _udp_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def _tcp_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def bind_pair(
    host: str, port: int, reuse_port: bool = False
) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets on the same port; port 0 picks one free for both."""
    for _ in range(50 if port == 0 else 1):
        udp = _udp_socket(host, port, reuse_port)
        chosen = udp.getsockname()[1]
        try:
            return udp, _tcp_socket(host, chosen, reuse_port)
        except OSError:
            udp.close()
            if port != 0:
                raise
    raise OSError(f"no port free for both UDP and TCP on {host}")


@dataclass
class DnsServer:
    """Serves one handler on every listen address; an async context manager."""

    handle: Handle
    endpoints: list[tuple[str, int]]
    stats: Any  # counts queries per transport: its .udp and .tcp go to the handler
    limits: TcpLimits = field(default_factory=TcpLimits)
    reuse_port: bool = False
    observe: Callable[[float], None] | None = None
    sockets: list[tuple[socket.socket, socket.socket]] = field(default_factory=list)
    bound: list[tuple[str, int]] = field(default_factory=list)
    _closers: list = field(default_factory=list)

    def bind(self) -> None:
        """Bind every socket now, so a bind error fails at once and loudly."""
        for host, port in self.endpoints:
            pair = bind_pair(host, port, self.reuse_port)
            self.sockets.append(pair)
            self.bound.append((host, pair[0].getsockname()[1]))

    async def __aenter__(self) -> DnsServer:
        if not self.sockets:
            self.bind()
        loop = asyncio.get_running_loop()
        stats = self.stats
        for udp, tcp in self.sockets:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UdpProtocol(self.handle, stats.udp, self.observe), sock=udp
            )
            server = await loop.create_server(
                lambda: TcpProtocol(self.handle, self.limits, stats.tcp), sock=tcp
            )
            self._closers.append(transport)
            self._closers.append(server)
        return self

    def retire(self) -> None:
        """Stop reading: another process now serves these (shared) sockets.

        Our copies of the UDP sockets and TCP listeners are closed, which leaves the
        sockets themselves to the processes still holding them. Open TCP connections close
        once everything received on them is answered (RFC 7766 lets a server close).
        """
        for closer in self._closers:
            closer.close()
        for transport in list(self.limits.transports):
            protocol = transport.get_protocol()
            protocol.closing = True
            if not protocol.buffer:
                transport.close()

    async def __aexit__(self, *exc: object) -> None:
        for closer in self._closers:
            closer.close()
        for transport in list(self.limits.transports):
            transport.close()
        for closer in self._closers:
            if isinstance(closer, asyncio.AbstractServer):
                await closer.wait_closed()
        self._closers.clear()
