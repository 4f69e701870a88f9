"""The API's front door: aiohttp behind a connection cap and header, body, idle deadlines."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from geodns.config import HttpConfig

log = logging.getLogger("geodns.http")

REPORT_INTERVAL = 10.0  # seconds between two log lines about the same noisy event
BACKLOG = 512  # the listen queue; what does not fit is refused by the kernel, not by us


class Tally:
    """Counts a noisy event: the first is logged at once, the rest once per interval.

    Bad requests and refused connections are whatever any client sends; a line (with a
    traceback) each would let a client fill the disk and drown what matters.
    """

    def __init__(self, what: str, interval: float | None = None) -> None:
        self.what = what
        self.interval = REPORT_INTERVAL if interval is None else interval
        self.total = 0
        self._held = 0
        self._latest = ""
        self._timer: asyncio.TimerHandle | None = None

    def note(self, detail: str) -> None:
        self.total += 1
        if self._timer is None:
            log.warning("%s: %s", self.what, detail)
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._flush)
        else:
            self._held += 1
            self._latest = detail

    def _flush(self) -> None:
        self._timer = None
        if self._held:
            log.warning(
                "%s: %d more in the last %gs (latest: %s)",
                self.what,
                self._held,
                self.interval,
                self._latest,
            )
            self._held = 0
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._flush)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class RequestLog(logging.LoggerAdapter):
    """aiohttp's request logger: a malformed request is counted, not logged with a traceback.

    Errors of our own handlers (500s) still go out whole: those are bugs to fix.
    """

    def __init__(self, bad_requests: Tally) -> None:
        super().__init__(log, {})
        self.bad_requests = bad_requests

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            peer = args[0] if args else "?"
            message = " ".join(str(exc.message).split())[:120]  # one line, bounded
            self.bad_requests.note(f"{exc.code} {message} from {peer}")
            return
        super().log(level, msg, *args, **kwargs)


class Guard:
    """What every API connection shares: the cap, the deadlines and the tallies."""

    def __init__(self, conf: HttpConfig) -> None:
        self.conf = conf
        self.server: Any = None  # aiohttp's web.Server, once the runner is set up
        self.open: dict[object, Connection] = {}  # aiohttp's handler -> our connection
        self.refused = Tally(f"HTTP connection cap ({conf.max_connections}) reached, refused")
        self.timed_out = 0

    def connection(self) -> Connection:
        return Connection(self)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Headers are in: stop their clock, read the body against its own, then answer."""
        conn = self.open.get(request.protocol)
        if conn is not None:
            conn.headers_done()
        try:
            if request.body_exists:
                try:
                    async with asyncio.timeout(self.conf.body_timeout):
                        await request.read()  # kept by aiohttp for the handler's json()/text()
                except TimeoutError:
                    self.timed_out += 1
                    late = web.HTTPRequestTimeout(text="request body not received in time\n")
                    late.force_close()  # what is left of the body is not worth reading
                    raise late from None
            if conn is not None:
                conn.body_done()
            return await handler(request)
        finally:
            if conn is not None:
                conn.request_done()


IDLE, HEADERS, BUSY = "idle", "headers", "busy"


class Connection(asyncio.Protocol):
    """One API connection: aiohttp's own handler inside, our clocks around it.

    (accepted) headers -> (handler reached) busy -> (answered) idle -> (first byte)
    headers. The header clock runs from the accept, or from a later request's first byte,
    until aiohttp hands the request to us; an idle keep-alive connection is aiohttp's
    keep-alive timer's (`idle_timeout`) to close; a response the client does not read
    (writing paused) gets `body_timeout`.
    """

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.inner: Any = None  # aiohttp's RequestHandler, once admitted
        self.transport: asyncio.Transport | None = None
        self.state = IDLE
        self.pending = False  # bytes of a next (pipelined) request came while busy
        self._read_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self.guard
        if len(guard.open) >= guard.conf.max_connections:
            transport.abort()  # before aiohttp builds anything for it: refusing costs ~nothing
            peer = transport.get_extra_info("peername")
            guard.refused.note(f"from {peer[0] if peer else '?'}")
            return
        self.transport = transport  # type: ignore[assignment]
        self.inner = guard.server()
        guard.open[self.inner] = self
        self.inner.connection_made(transport)
        self.state = HEADERS  # a new connection owes its first request's headers at once
        self._read_timer = self._arm(guard.conf.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if self.state == IDLE:
            self.state = HEADERS
            self._read_timer = self._arm(self.guard.conf.header_timeout)
        elif self.state == BUSY:
            self.pending = True
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read()
        if self._write_timer is not None:
            self._write_timer.cancel()
        if self.inner is not None:
            self.guard.open.pop(self.inner, None)
            self.inner.connection_lost(exc)
            self.inner = None

    def pause_writing(self) -> None:
        self._write_timer = self._arm(self.guard.conf.body_timeout)
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self.inner.resume_writing()

    def headers_done(self) -> None:
        self._cancel_read()
        self.state, self.pending = BUSY, False

    def body_done(self) -> None:
        self.pending = False  # what came so far was this request's body

    def request_done(self) -> None:
        """Answered: idle again, unless a next request had begun, whose headers now run."""
        if self.pending:
            self.state, self.pending = HEADERS, False
            self._read_timer = self._arm(self.guard.conf.header_timeout)
        else:
            self.state = IDLE

    def _arm(self, seconds: float) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(seconds, self._expire)

    def _cancel_read(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _expire(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.guard.timed_out += 1
            self.transport.abort()


class HttpFront:
    """The API listening: aiohttp's application behind our connections. `await start()`."""

    def __init__(self, app: web.Application, conf: HttpConfig) -> None:
        self.conf = conf
        self.bad_requests = Tally("bad HTTP requests")
        self.guard = Guard(conf)
        app.middlewares.append(self.guard.middleware)
        self.runner = web.AppRunner(
            app,
            access_log=None,
            logger=RequestLog(self.bad_requests),
            keepalive_timeout=conf.idle_timeout,
            lingering_time=conf.body_timeout,
        )
        self._server: asyncio.AbstractServer | None = None
        self.probes: HttpFront | None = None  # http.probe_listen's own front, if any

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind now (a busy port fails loudly at start); the bound (host, port)."""
        await self.runner.setup()
        self.guard.server = self.runner.server
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.guard.connection, host, port, backlog=BACKLOG, reuse_address=True
        )
        return host, self._server.sockets[0].getsockname()[1]

    async def cleanup(self) -> None:
        if self.probes is not None:
            await self.probes.cleanup()
        if self._server is not None:
            self._server.close()
        await self.runner.cleanup()  # closes the connections still open
        self.bad_requests.close()
        self.guard.refused.close()
