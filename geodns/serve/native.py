"""Native UDP serving in a worker: geodns._fastnet threads own the UDP sockets and answer
what their table holds; what they hand over (with its source) is answered here by the
Python handler, on the same socket, from the event loop (woken through an eventfd)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from geodns.dns import native
from geodns.serve.tcp import Count, Handle, errors

log = logging.getLogger("geodns.native")
UDP_SIZE = 512  # what a datagram carries whatever the query says (as UdpProtocol)


class NativeUdp:
    """One native server over a worker's UDP sockets (one thread by default: a worker is
    one process of several, each with its own sockets)."""

    def __init__(
        self,
        built: native.Built,
        socks: list[socket.socket],
        handle: Handle,
        count: Count,
        stats: Any = None,
        *,
        threads: int = 1,
        reply_size: int = 1232,
    ) -> None:
        self.built, self.socks, self.handle, self.count = built, socks, handle, count
        self.stats = stats  # its .truncated counts replies sent with TC (as UdpProtocol)
        fds = [s.fileno() for s in socks]
        self.server = native.server(fds, threads=threads, reply_size=reply_size)
        self.server.set_table(built.table)
        self._seen: dict = {}  # native counter totals already added to Stats
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self.server.wakefd, self.answer_handed)
        self.server.start()

    def answer_handed(self) -> None:
        """Answer the datagrams the native threads handed over, as UdpProtocol would."""
        socks, handle, count = self.socks, self.handle, self.count
        for data, addr, index in self.server.drain():
            try:
                resp = handle(data, addr[0], UDP_SIZE, count)
            except Exception:
                errors.report(f"UDP query from {addr[0]}")
                continue
            if resp is None:
                continue
            try:
                socks[index].sendto(resp, addr)
            except OSError:  # a full send buffer or a gone client: as a lost datagram
                continue
            if resp[2] & 0x02 and self.stats is not None:  # TC: the client retries over TCP
                self.stats.truncated += 1

    def stop(self) -> None:
        """Stop the threads (nothing more is read natively), then answer what they handed
        over before they stopped."""
        if self._loop is not None:
            self._loop.remove_reader(self.server.wakefd)
            self._loop = None
        self.server.stop()
        self.answer_handed()

    def add_counts(self, stats: Any) -> None:
        """The native answers into `stats` (the UDP query counters /metrics reads)."""
        native.add_counts(stats, self.built.zones, self.server.counts(), self._seen)

    def counters(self) -> dict[str, int]:
        return dict(self.server.stats())


def native_udp(conf: Any, handler: Any, stats: Any) -> Callable[[list], NativeUdp] | None:
    """For a worker: what makes its NativeUdp from its UDP sockets when the config's
    dns.fast_path resolves to native (the table flattened now, once), else None."""
    path, _why = native.resolve(conf)
    if path != native.NATIVE:
        return None
    built = native.for_handler(handler)
    payload = conf.dns.max_udp_payload

    def make(socks: list[socket.socket]) -> NativeUdp:
        return NativeUdp(built, socks, handler.handle, stats.udp, stats, reply_size=payload)

    return make


def announce(conf: Any) -> str:
    """Say once, at start, which path answers UDP (a warning when `auto` finds no
    extension); GeoDNSError when dns.fast_path is native and the extension is missing."""
    path, why = native.resolve(conf)
    if path == native.NATIVE:
        log.info("UDP fast path: native (geodns._fastnet)")
    elif conf.dns.fast_path == native.AUTO and not native.available():
        log.warning("UDP fast path: python; %s", why)
    else:
        log.info("UDP fast path: python; %s", why)
    return path
