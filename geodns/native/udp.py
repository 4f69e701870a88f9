"""Native UDP serving in a worker: geodns._native threads own the UDP sockets and answer
what their table holds; what they hand over (with its source) is answered here by the
Python handler, on the same socket, from the event loop (woken through an eventfd)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from geodns.geo import measuredsplit
from geodns.native import decisions as nativepolicy
from geodns.native import shared as native_abuse
from geodns.native import table as native
from geodns.native.answer import NativeAnswer

# as serve/tcp.py: handle(query, source address, reply size, its query counter) and the
# counter; failed(where, query, count): a handler crash logged, counted, answered SERVFAIL
Count = Callable[[str | None, int, int], None]
Handle = Callable[[bytes, str, int, Count], "bytes | None"]
Failed = Callable[[str, bytes, Count], "bytes | None"]

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
        failed: Failed,
        health: Any = None,
        threads: int = 1,
        reply_size: int = 1232,
    ) -> None:
        self.built, self.socks, self.handle, self.count = built, socks, handle, count
        self.failed = failed
        self.stats = stats  # its .truncated counts replies sent with TC (as UdpProtocol)
        fds = [s.fileno() for s in socks]
        self.server = native.server(fds, threads=threads, reply_size=reply_size)
        self.server.set_table(built.table)
        self.jar = None  # the handler's server cookies on the shared table (native_abuse)
        self.limiter: Any = None  # the handler's rate limiter on the shared table
        self._tick: Any = None
        self.health = health
        # the same engine for messages Python's transports hold (TCP): stream_handle
        self.answer = NativeAnswer(built, handle, stats)
        self.splits = measuredsplit.Splits()  # trees split by measured RTTs, across changes
        if health is not None:  # policy names answered natively by class (nativepolicy)
            self._decide()
        self._seen: dict = {}  # native counter totals already added to Stats
        self._truncated = 0  # the threads' TC replies already added to stats.truncated
        self._observed: dict = {}  # native histogram totals already added (Server.observed)
        self._loop: asyncio.AbstractEventLoop | None = None
        # what Python answers for the threads: timed and sized (and tapped) as they are
        self.observe: Any = None
        self._locals = [s.getsockname() for s in socks]
        self.later: set = set()  # answers still to come (UPDATE)

    def use_log(self, qlog: Any) -> None:
        """The threads push every answer to `qlog` (native/qlog.py): lines and/or dnstap."""
        qlog.attach(self.server)
        self.answer.logged = qlog.native_answer()  # TCP messages the engine answers

    def use_cookies(self, jar: Any) -> None:
        """Answer COOKIE queries natively from `jar`'s table (native/shared.py
        NativeServerCookies, the handler's), so both paths hand a client one cookie."""
        self.jar = jar
        self.server.set_cookies(jar.capsule(), jar)
        self.answer.jar = jar.capsule()
        self._cookies_seen = dict.fromkeys(jar.native_counts(), 0)

    def use_rrl(self, limiter: Any) -> None:
        """Limit native answers on `limiter`'s table (native/shared.py NativeRateLimiter,
        the handler's): one set of accounts, whichever path answers."""
        self.limiter = limiter
        self.server.set_rrl(limiter.capsule(), limiter)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self.server.wakefd, self.answer_handed)
        self.server.start()
        if self.limiter is not None:
            self._tick = loop.call_later(1.0, self._log_limited)

    def _log_limited(self) -> None:
        """rrl.py's log line once a second, for what the threads limited too."""
        self.limiter.log_limited()
        if self._loop is not None:
            self._tick = self._loop.call_later(1.0, self._log_limited)

    def answer_handed(self) -> None:
        """Answer the datagrams the native threads handed over, as UdpProtocol would."""
        socks, handle, count, observe = self.socks, self.handle, self.count, self.observe
        for data, addr, index in self.server.drain():
            started = time.perf_counter()  # from here: its wait in the queue is not seen
            try:
                resp = handle(data, addr[0], UDP_SIZE, count)
            except Exception:  # as UdpProtocol: logged, counted, answered SERVFAIL
                resp = self.failed(f"UDP query from {addr[0]}", data, count)
            if resp is None:
                continue
            if resp.__class__ is not bytes:  # an UPDATE: answered when the writer is done
                self._later(resp, socks[index], addr)
                continue
            try:
                socks[index].sendto(resp, addr)
            except OSError:  # a full send buffer or a gone client: as a lost datagram
                continue
            if resp[2] & 0x02 and self.stats is not None:  # TC: the client retries over TCP
                self.stats.truncated += 1
            if observe is not None:
                observe("udp", data, resp, addr, self._locals[index], time.perf_counter() - started)

    def _later(self, pending: Any, sock: socket.socket, addr: Any) -> None:
        """Send an UPDATE's answer when it comes, from a copy of the socket (it outlives
        this worker's retirement, as serve/tcp.py send_later does for UdpProtocol)."""
        copy = sock.dup()
        task = asyncio.ensure_future(pending)
        self.later.add(task)

        def done(task: asyncio.Future) -> None:
            self.later.discard(task)
            try:
                if not task.cancelled() and task.exception() is None and task.result():
                    copy.sendto(task.result(), addr)
            except OSError:
                pass
            finally:
                copy.close()

        task.add_done_callback(done)

    def stop(self) -> None:
        """Stop the threads (nothing more is read natively), then answer what they handed
        over before they stopped."""
        if self._loop is not None:
            self._loop.remove_reader(self.server.wakefd)
            self._loop = None
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        self.server.stop()
        self.answer_handed()

    def health_changed(self) -> None:
        """Every policy class decided again under the new health, swapped in whole: the
        threads answer from the old decisions until the swap, never from a mix."""
        if self.health is not None:
            self._decide()

    def _decide(self) -> None:
        dec = nativepolicy.decisions(self.built, self.health, self.splits)
        self.server.set_decisions(dec)
        self.answer.decisions = dec

    def stream_handle(self, data: bytes, host: str, max_size: int, count: Count) -> Any:
        """A TCP message: the native answer (the threads' engine), else the handler's."""
        return self.answer.handle(data, host, max_size, count)

    def add_counts(self, stats: Any) -> None:
        """The native answers into `stats` (the UDP query and by_pool counters)."""
        native.add_counts(stats, self.built, self.server.counts(), self._seen)
        counted = self.server.stats()  # this worker's threads, cumulative
        stats.handover_dropped = counted["dropped"]
        stats.engine[("udp", "native")] = counted["answered"]
        stats.engine[("udp", "python")] = counted["handed"]  # the slow handler answers those
        stats.truncated += counted["truncated"] - self._truncated  # TC sent by the threads
        self._truncated = counted["truncated"]
        stats.add_native(self._observed, self.server.observed())  # histograms, GeoIP
        if self.jar is not None:  # cookies_total{result}: what the threads answered too
            seen = self._cookies_seen
            for name, total in self.jar.native_counts().items():
                stats.cookies[name] += total - seen.get(name, 0)
                seen[name] = total

    def counters(self) -> dict[str, int]:
        return dict(self.server.stats())


def native_udp(
    conf: Any, handler: Any, stats: Any, failed: Failed, qlog: Any = None, observe: Any = None
) -> Callable[[list], NativeUdp] | None:
    """For a worker: what makes its NativeUdp from its UDP sockets when the config's
    dns.fast_path resolves to native (the table flattened now, once), else None."""
    path, _why = native.resolve(conf)
    if path != native.NATIVE:
        return None
    built = native.for_handler(handler)
    payload = conf.dns.max_udp_payload
    rrl = cookies = None
    if native_abuse.available():  # one table each for both paths (else COOKIE: Python's)
        rrl, cookies = native_abuse.use_native_tables(handler)

    def make(socks: list[socket.socket]) -> NativeUdp:
        health = handler.health
        udp = NativeUdp(
            built,
            socks,
            handler.handle,
            stats.udp,
            stats,
            failed=failed,
            health=health,
            reply_size=payload,
        )
        if cookies is not None:
            udp.use_cookies(handler.cookies)
        if rrl is not None:
            udp.use_rrl(handler.rrl)
        if qlog is not None:  # observe: the query log and dnstap from the threads
            udp.use_log(qlog)
        udp.observe = observe
        return udp

    return make


def prepare(table: Any, conf: Any) -> None:
    """In the supervisor, once a table is built: flatten it for the native threads now
    (when the config resolves to native), so every worker forked from it shares one copy
    instead of each flattening its own (seconds and 100+ MB for a million names)."""
    if native.resolve(conf)[0] == native.NATIVE:
        native.prepare(table, conf)


def announce(conf: Any) -> str:
    """Say once, at start, which path answers UDP (a warning when `auto` finds no
    extension); GeoDNSError when dns.fast_path is native and the extension is missing."""
    path, why = native.resolve(conf)
    if path == native.NATIVE:
        log.info("UDP fast path: native (geodns._native)")
    elif conf.dns.fast_path == native.AUTO and not native.available():
        log.warning("UDP fast path: python; %s", why)
    else:
        log.info("UDP fast path: python; %s", why)
    return path
