"""DNS over TCP (RFC 7766): framing, deadlines, and who gets one of a worker's slots."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import struct
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geodns.dns.failure import servfail
from geodns.serve.tcpbuffers import HELD_ANSWERS, cap_buffers, reset
from geodns.wire import RCODE_SERVFAIL

log = logging.getLogger("geodns.server")

# handle(query, source address, the reply size this transport carries, its query counter)
Count = Callable[[str | None, int, int], None]
Handle = Callable[[bytes, str, int, Count], "bytes | None"]
MAX_TCP_BUFFER = 2 + 65535  # one full message and its length prefix
TCP_SIZE = 65535  # what the 2-byte length prefix can frame (RFC 7766)
STALLED = 1.0  # a message in progress this long may be evicted at the cap (a query is 1 RTT)


@dataclass
class TcpLimits:
    """One worker's TCP bounds, its open connections, and counts of what the bounds did.

    The counters are cumulative and reach the supervisor in the worker's snapshots.
    """

    idle_timeout: float = 10.0  # between messages
    max_connections: int = 1000
    message_timeout: float = 3.0  # a whole message, from its first byte (the first: from connect)
    max_per_source: int = 16  # connections from one client address; 0 = no limit
    write_timeout: float = 5.0  # answers the client leaves unread this long: reset
    open: int = 0  # connections now open; read by the tcp_connections metric
    accepted: int = 0
    refused: int = 0  # at the cap, and no connection to make room
    refused_per_source: int = 0  # the client address already held max_per_source
    evicted: int = 0  # idle connections closed to admit a new one at the cap
    evicted_slow: int = 0  # the same, for lack of an idle one: the longest stalled message
    message_timeouts: int = 0  # closed because a message did not arrive whole in time
    write_timeouts: int = 0  # reset because its answers stayed unread (tcpbuffers.py)
    transports: set = field(default_factory=set)  # closed on shutdown
    sources: dict[str, int] = field(default_factory=dict)  # open connections per address
    idle: dict = field(default_factory=dict)  # TcpProtocol -> None, the longest idle first
    busy: dict = field(default_factory=dict)  # TcpProtocol -> None, the oldest message first

    def admit(self, conn: TcpProtocol) -> bool:
        """Take a slot for `conn`; at the cap, make room by evicting (`_make_room`)."""
        peer = conn.peer
        if self.max_per_source and self.sources.get(peer, 0) >= self.max_per_source:
            self.refused_per_source += 1
            return False
        if self.open >= self.max_connections and not self._make_room():
            self.refused += 1
            return False
        self.open += 1
        self.accepted += 1
        self.sources[peer] = self.sources.get(peer, 0) + 1
        self.transports.add(conn.transport)
        return True

    def _make_room(self) -> bool:
        """Evict the longest idle connection, else the longest stalled message, else refuse.

        An idle connection (nothing in progress, nothing unanswered) costs its client only a
        reconnect (RFC 7766 lets a server close idle connections); refusing the newcomer
        instead would leave the slots to whoever holds them, as Knot and NSD know. Without
        an idle one, a message that has taken over a second so far is no client on any
        real network but a trickler, who would lose the slot at its deadline anyway: it
        goes now, so trickling can't shut out a client that sends its query at once.
        """
        for conn in self.idle:  # insertion order: the longest idle first
            if conn.transport.get_write_buffer_size() == 0:  # its answers are all out
                self.evicted += 1
                conn.evict()
                return True
        oldest = next(iter(self.busy), None)
        stalled = min(STALLED, self.message_timeout / 2)
        if oldest is not None and time.monotonic() - oldest.message_started >= stalled:
            self.evicted_slow += 1
            oldest.evict()
            return True
        return False

    def release(self, conn: TcpProtocol) -> None:
        self.open -= 1
        left = self.sources.get(conn.peer, 1) - 1
        if left:
            self.sources[conn.peer] = left
        else:
            self.sources.pop(conn.peer, None)
        self.idle.pop(conn, None)
        self.busy.pop(conn, None)
        self.transports.discard(conn.transport)


class _ErrorLog:
    """Logs handler crashes at most once a second, so a hostile stream can't flood the log."""

    def __init__(self) -> None:
        self.last = 0.0
        self.suppressed = 0
        self.total = 0  # every crash, logged or not: geodns_internal_errors_total

    def failed(self, where: str, data: bytes, count: Count) -> bytes | None:
        """A handler crash on `data`: logged (rate-limited), counted, answered SERVFAIL
        (counted as such under zone "(none)") so the client does not wait for a timeout."""
        self.report(where)
        resp = servfail(data)
        if resp is not None:
            count(None, 0, RCODE_SERVFAIL)
        return resp

    def report(self, where: str) -> None:
        self.total += 1
        now = time.monotonic()
        if now - self.last < 1.0:
            self.suppressed += 1
            return
        self.last = now
        log.exception("internal error answering %s (%d similar suppressed)", where, self.suppressed)
        self.suppressed = 0


errors = _ErrorLog()


def send_later(
    pending: Any, send: Callable[[bytes], None], tasks: set, after: Callable[[], Any] | None = None
) -> None:
    """An answer that comes later (an UPDATE waits for the zone writer, dns/update.py): sent
    when it does; `tasks` keeps it referenced until then, `after` runs once it is sent or
    lost (a lost peer loses the answer)."""
    task = asyncio.ensure_future(pending)
    tasks.add(task)

    def done(task: asyncio.Future) -> None:
        try:
            if task.cancelled() or task.exception() is not None:
                return
            resp = task.result()
            if resp is not None:
                with contextlib.suppress(Exception):
                    send(resp)
        finally:
            tasks.discard(task)
            if after is not None:
                after()

    task.add_done_callback(done)


def unread_bytes(transport: asyncio.BaseTransport) -> int:
    """Bytes the kernel has received on this connection that we have not read yet."""
    sock = transport.get_extra_info("socket")
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (AttributeError, OSError, ValueError):
        return 0
    return struct.unpack("i", raw)[0]


class TcpProtocol(asyncio.Protocol):
    """RFC 7766: 2-byte framing, many and pipelined queries per connection, two deadlines.

    A slow sender can't hold a slot by trickling bytes: a message must arrive whole within
    `message_timeout` of its first byte (the first message, of the connect), and between
    messages the connection may idle for `idle_timeout`. Bytes arriving don't move either.
    """

    def __init__(
        self, handle: Handle, limits: TcpLimits, count: Count, observe: Any = None
    ) -> None:
        self.handle = handle
        self.limits = limits
        self.count = count
        self.observe = observe  # every answer: time, sizes, dnstap (serve/protocols.Observe)
        self.address: tuple = ("", 0)
        self.local: tuple = ("", 0)
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.first = True  # no whole message yet
        self.message_deadline = 0.0
        self.idle_deadline = 0.0
        self.message_started = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.counted = False
        self.closing = False  # retired worker: close once what was received is answered
        self.write_deadline = 0.0  # answers wait for the client to read them: until then
        self.later: set = set()  # answers still to come (UPDATE)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # The address is read once, here: read later, a peer that reset is '' (no source).
        peer = transport.get_extra_info("peername")
        if not peer:  # gone before we saw it: nobody to answer or count
            transport.close()
            return
        self.peer, self.address = peer[0], peer
        self.local = transport.get_extra_info("sockname") or ("", 0)
        if not self.limits.admit(self):
            transport.close()
            return
        self.counted = True
        cap_buffers(transport)
        now = time.monotonic()
        self.message_deadline = now + self.limits.message_timeout
        self.idle_deadline = now + self.limits.idle_timeout
        self.limits.idle[self] = None  # nothing in progress yet: the first to go at the cap
        self._arm(now, min(self.message_deadline, self.idle_deadline))

    def _arm(self, now: float, at: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = at
        self.timer = asyncio.get_running_loop().call_later(at - now, self._check)

    def _deadline(self) -> float:
        if self.write_deadline:  # not reading meanwhile: the client's turn, not its query's
            return self.write_deadline
        if self.buffer:
            return self.message_deadline
        if self.first:
            return min(self.message_deadline, self.idle_deadline)
        return self.idle_deadline

    def _check(self) -> None:
        now = time.monotonic()
        deadline = self._deadline()
        if now < deadline:
            self._arm(now, deadline)
            return
        if self.write_deadline:
            self.limits.write_timeouts += 1
            reset(self.transport)  # type: ignore[arg-type]
            return
        if self.buffer or (self.first and now >= self.message_deadline):
            self.limits.message_timeouts += 1
        self.transport.close()  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if not self.counted:  # refused, evicted or peerless: closing, nothing to answer
            return
        buf = self.buffer
        fresh = not buf  # this chunk starts a message
        if buf:  # a message began in an earlier chunk: read on from the joined bytes
            buf += data
            data = bytes(buf)
            buf.clear()
        pos = 0
        while not self.write_deadline:  # (answers wait unread: hold the rest till they go)
            start = pos
            pos, made = self._answer(data, pos)
            fresh = fresh or pos > start
            if made < HELD_ANSWERS:  # all whole messages answered
                break
        if pos < len(data):
            buf += data[pos:]
        if not buf:
            self._idles()
            if self.closing and not self.later:
                self.transport.close()  # type: ignore[union-attr]  # flushes the answers first
        elif fresh:
            self._message_starts()
        if len(buf) > MAX_TCP_BUFFER + HELD_ANSWERS:  # cannot happen: reading is paused
            self.transport.close()  # type: ignore[union-attr]

    def _answer(self, data: bytes, pos: int) -> tuple[int, int]:
        """Answer whole messages from `pos` until HELD_ANSWERS bytes of answers are made;
        (where it stopped, bytes made). The kernel takes them, or writing pauses.

        Messages are sliced straight from the chunk: a pipelining client's chunk of whole
        messages is never copied into the buffer and out again."""
        end, out, made = len(data), [], 0
        while end - pos >= 2 and made < HELD_ANSWERS:
            stop = pos + 2 + (data[pos] << 8 | data[pos + 1])
            if stop > end:
                break
            message = data[pos + 2 : stop]
            pos = stop
            self.first = False
            started = time.perf_counter()
            try:
                resp = self.handle(message, self.peer, TCP_SIZE, self.count)
            except Exception:
                resp = errors.failed(f"TCP query from {self.peer}", message, self.count)
            if resp.__class__ is bytes:
                out += (len(resp).to_bytes(2, "big"), resp)  # type: ignore[union-attr]
                made += 2 + len(resp)  # type: ignore[arg-type]
                if self.observe is not None:  # to the write below: the send is the loop's
                    elapsed = time.perf_counter() - started
                    self.observe("tcp", message, resp, self.address, self.local, elapsed)
            elif resp is not None:  # an UPDATE: answered when the zone writer is done
                send_later(resp, self._send_one, self.later)
        if out:
            self.transport.write(b"".join(out))  # type: ignore[union-attr]
        return pos, made

    def _send_one(self, resp: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(len(resp).to_bytes(2, "big") + resp)
            if self.closing and not self.buffer and len(self.later) <= 1:  # the last one
                self.transport.close()

    def _message_starts(self) -> None:
        """A message's first byte: its deadline starts (the first message's ran from connect)."""
        limits, now = self.limits, time.monotonic()
        limits.idle.pop(self, None)
        self.message_started = now
        limits.busy.pop(self, None)
        limits.busy[self] = None  # the newest in progress
        if self.first:
            return
        self.message_deadline = now + limits.message_timeout
        if self.message_deadline < self.timer_at:
            self._arm(now, self.message_deadline)

    def _idles(self) -> None:
        """Everything received is answered: idle from now, the newest in the eviction order."""
        limits = self.limits
        self.idle_deadline = time.monotonic() + limits.idle_timeout
        limits.busy.pop(self, None)
        limits.idle.pop(self, None)
        limits.idle[self] = None

    def retire(self) -> None:
        """Close once everything received is answered: at once if nothing is on its way."""
        self.closing = True
        if not self.buffer and not self.later and not unread_bytes(self.transport):  # type: ignore[arg-type]
            self.transport.close()  # type: ignore[union-attr]

    def evict(self) -> None:
        """Closed to make room: counted out now (the transport reports its close later)."""
        self.release()
        self.transport.close()  # type: ignore[union-attr]

    def release(self) -> None:
        if self.counted:
            self.counted = False
            self.limits.release(self)

    def pause_writing(self) -> None:
        """Answers wait for the client to read them: it stops being read (back-pressure),
        and gets dns.tcp_write_timeout to take them all, or is reset."""
        self.transport.pause_reading()  # type: ignore[union-attr]
        now = time.monotonic()
        self.write_deadline = now + self.limits.write_timeout
        if self.write_deadline < self.timer_at:
            self._arm(now, self.write_deadline)

    def resume_writing(self) -> None:
        """All answers are out: read again, and answer what was held meanwhile."""
        self.write_deadline = 0.0
        if not self.counted:
            return
        self.transport.resume_reading()  # type: ignore[union-attr]
        if self.buffer:
            self._message_starts()  # a held message gets its full time from now
            self.data_received(b"")
        else:
            self._idles()

    def eof_received(self) -> bool:
        return False  # close our side too once the client is done sending

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.release()
