"""UDP and the server on every address: call the handler, send; nothing about DNS itself."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geodns.serve.binding import bind_error
from geodns.serve.tcp import Count, Handle, TcpLimits, TcpProtocol, errors, send_later

# Re-exported: the TCP side lives in serve/tcp.py, callers import both from here.
__all__ = ["Count", "DnsServer", "Handle", "TcpLimits", "TcpProtocol", "UdpProtocol", "bind_pair"]
UDP_SIZE = 512  # a datagram reply, unless the query's EDNS payload says more (RFC 1035, 6891)
QUEUED_DATAGRAMS = 65536  # at most this many queued datagrams answered on the way out


# observe(transport, query, reply, peer, local, seconds): one answer sent (native/qlog.py)
Observe = Callable[[str, bytes, bytes, tuple, tuple, float], None]


class UdpProtocol(asyncio.DatagramProtocol):
    """One datagram in, at most one out; a handler bug costs one answer, not the server."""

    def __init__(
        self,
        handle: Handle,
        count: Count,
        observe: Observe | None = None,
        stats: Any = None,
    ) -> None:
        self.handle = handle
        self.count = count
        self.observe = observe  # every answer: its time, sizes (and dnstap when on)
        self.stats = stats  # its .truncated counts replies sent with TC
        self.sendto: Callable | None = None
        self.local: tuple = ("", 0)
        self.later: set = set()  # answers still to come (UPDATE)
        self.sock: socket.socket | None = None  # the UDP socket (a copy answers them)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.sendto = transport.sendto  # type: ignore[attr-defined]
        self.local = transport.get_extra_info("sockname") or ("", 0)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        started = time.perf_counter()
        try:
            resp = self.handle(data, addr[0], UDP_SIZE, self.count)
        except Exception:
            resp = errors.failed(f"UDP query from {addr[0]}", data, self.count)
        if resp.__class__ is not bytes and resp is not None:  # an UPDATE: answered when done
            self.answer_later(resp, addr)
        elif resp is not None:
            self.sendto(resp, addr)  # type: ignore[misc]
            if resp[2] & 0x02 and self.stats is not None:  # TC: the client retries over TCP
                self.stats.truncated += 1
            if self.observe is not None:
                self.observe("udp", data, resp, addr, self.local, time.perf_counter() - started)

    def answer_later(self, pending: Any, addr: tuple) -> None:
        """From a copy of the socket: a reload may retire this worker before the zone
        writer answers, and closing the transport must not lose the reply."""
        sock = self.sock.dup() if self.sock is not None else None
        if sock is None:
            send_later(pending, lambda r: self.sendto(r, addr), self.later)  # type: ignore[misc]
            return
        send_later(pending, lambda r: sock.sendto(r, addr), self.later, sock.close)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors for earlier replies (a client that went away) are not our problem."""


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
        try:
            udp = _udp_socket(host, port, reuse_port)
        except OSError as exc:  # says which address, which protocol, and what to do
            raise bind_error(exc, "UDP", host, port) from exc
        chosen = udp.getsockname()[1]
        try:
            return udp, _tcp_socket(host, chosen, reuse_port)
        except OSError as exc:
            udp.close()
            if port != 0:
                raise bind_error(exc, "TCP", host, port) from exc
    raise OSError(f"no port free for both UDP and TCP on {host}")


@dataclass
class DnsServer:
    """Serves one handler on every listen address; an async context manager."""

    handle: Handle
    endpoints: list[tuple[str, int]]
    stats: Any  # counts queries per transport: its .udp and .tcp go to the handler
    limits: TcpLimits = field(default_factory=TcpLimits)
    reuse_port: bool = False
    observe: Observe | None = None
    # native UDP serving (native/udp.py): given the UDP sockets, a NativeUdp that owns them
    native: Callable[[list[socket.socket]], Any] | None = None
    sockets: list[tuple[socket.socket, socket.socket]] = field(default_factory=list)
    bound: list[tuple[str, int]] = field(default_factory=list)
    _closers: list = field(default_factory=list)
    _udp: list[tuple[socket.socket, UdpProtocol]] = field(default_factory=list)
    _native: Any = None

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
        if self.native is not None:
            self._native = self.native([udp for udp, _ in self.sockets])
            self._native.start(loop)
        for udp, tcp in self.sockets:
            if self._native is None:
                transport, protocol = await loop.create_datagram_endpoint(
                    lambda: UdpProtocol(self.handle, stats.udp, self.observe, stats), sock=udp
                )
                protocol.sock = udp
                self._closers.append(transport)
            else:  # answers what is queued at shutdown, once the native threads stop
                protocol = UdpProtocol(self.handle, stats.udp, self.observe, stats)
                protocol.sendto, protocol.local = udp.sendto, udp.getsockname()
                protocol.sock = udp
            server = await loop.create_server(self._tcp_protocol, sock=tcp)
            self._udp.append((udp, protocol))
            self._closers.append(server)
        return self

    def health_changed(self) -> None:
        """A health push reached this process: native policy answers are decided again."""
        if self._native is not None:
            self._native.health_changed()

    def add_native_counts(self) -> None:
        """What the native threads answered, into the UDP counters (before a snapshot)."""
        if self._native is not None:
            self._native.add_counts(self.stats)

    def _tcp_protocol(self) -> TcpProtocol:
        native = self._native  # one engine for both transports: the native answer first
        handle = self.handle if native is None else native.stream_handle
        return TcpProtocol(handle, self.limits, self.stats.tcp, self.observe)

    def retire(self) -> None:
        """Stop reading: another process now serves these (shared) sockets.

        Our copies of the UDP sockets and TCP listeners are closed, which leaves the
        sockets themselves to the processes still holding them. Open TCP connections close
        once everything received on them is answered (RFC 7766 lets a server close).
        """
        if self._native is not None:
            self._native.stop()
        for closer in self._closers:
            closer.close()
        for transport in list(self.limits.transports):
            transport.get_protocol().retire()

    async def shut_down(self) -> None:
        """Retire with nobody to take over: what is queued on our sockets is answered first.

        Connections the kernel has accepted for us and datagrams already received were sent
        before we stopped, so they are in flight, not new: the listeners' copies in the
        supervisor would otherwise reset them at exit. Then retire as for a reload.
        """
        loop = asyncio.get_running_loop()
        accepted = []
        if self._native is not None:
            self._native.stop()
        for udp, protocol in self._udp:
            _answer_queued(udp, protocol)
        for _, tcp in self.sockets:
            accepted.extend(_accept_queued(tcp))
        for conn in accepted:
            await loop.connect_accepted_socket(self._tcp_protocol, conn)
        self.retire()

    async def __aexit__(self, *exc: object) -> None:
        if self._native is not None:
            self._native.stop()
        for closer in self._closers:
            closer.close()
        for transport in list(self.limits.transports):
            transport.close()
        for closer in self._closers:
            if isinstance(closer, asyncio.AbstractServer):
                await closer.wait_closed()
        self._closers.clear()


def _answer_queued(udp: socket.socket, protocol: UdpProtocol) -> None:
    """Answer the datagrams waiting in a UDP socket's queue (bounded), without blocking."""
    for _ in range(QUEUED_DATAGRAMS):
        try:
            data, addr = udp.recvfrom(65535)
        except ConnectionRefusedError:  # an ICMP error for an earlier reply: not a query
            continue
        except OSError:  # the queue is empty (EAGAIN), or the socket is gone
            return
        protocol.datagram_received(data, addr)


def _accept_queued(tcp: socket.socket) -> list[socket.socket]:
    """The connections in a listener's accept queue (never more than its backlog)."""
    out = []
    while True:
        try:
            conn, _ = tcp.accept()
        except (BlockingIOError, InterruptedError, OSError):
            return out
        conn.setblocking(False)
        out.append(conn)
