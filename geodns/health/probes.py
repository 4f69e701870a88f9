"""Health probes (aiohttp HTTP/HTTPS, TCP connect) and the scheduler that runs them."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from yarl import URL

from geodns import __version__
from geodns.health.board import HealthBoard
from geodns.model import CheckSpec, MemberKey

log = logging.getLogger("geodns.checks")

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
BODY_LIMIT = 64 * 1024  # `contains` looks at this much of the body, and we read no more


def user_agent(instance: str) -> str:
    """`geodns/VERSION (INSTANCE)`: a backend's logs say which name server probed it."""
    return f"geodns/{__version__} ({instance})"


def redact_url(url: str) -> str:
    """A URL fit for logs and the status API: userinfo and query string masked.

    Check targets may carry credentials (`https://user:pass@host/`) or tokens in the
    query string (`/health?key=...`); what a probe reports must never repeat them.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if has_password else f"***@{hostport}"
    query = "***" if parts.query else ""
    fragment = "***" if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact(text: str) -> str:
    """Every URL in a free text (an exception's message, say) with its secrets masked."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def probe_target(spec: CheckSpec, address: str) -> tuple[str, int, str | None]:
    """(host, port, url) to probe; url is None for tcp.

    `target` replaces what is probed: a URL is used as is (tcp connects to its host and
    port), `host:port` or `[v6]:port` replaces both, a bare address or name the host only.
    """
    target = spec.target
    host, port = address, spec.port
    if target and "://" in target:
        url = URL(target)
        if spec.type == "tcp":
            return url.host or address, url.port or spec.port, None
        return url.host or address, url.port or spec.port, target
    if target:
        if target.startswith("["):
            host, _, rest = target[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else port
        elif target.count(":") == 1:
            host, port_text = target.split(":")
            port = int(port_text)
        else:
            host = target  # a name, an IPv4 or a bare IPv6 address
    if spec.type == "tcp":
        return host, port, None
    return host, port, f"{spec.type}://{_hostport(host, port)}{spec.path}"


async def probe(spec: CheckSpec, address: str, session: aiohttp.ClientSession) -> tuple[bool, str]:
    """One probe of one member, bounded by `spec.timeout`; never raises: (ok, why)."""
    try:
        host, port, url = probe_target(spec, address)
        async with asyncio.timeout(spec.timeout):
            if url is not None:
                return await _http(spec, url, session)
            return await _tcp(host, port)
    except Exception as exc:  # a probe must never take the checker down
        return False, redact(describe(exc, spec.timeout))  # aiohttp's messages hold the URL


async def _tcp(host: str, port: int) -> tuple[bool, str]:
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, "TCP connect ok"


async def _http(spec: CheckSpec, url: str, session: aiohttp.ClientSession) -> tuple[bool, str]:
    headers = {"Host": spec.host} if spec.host else None
    extra: dict[str, object] = {}
    if url.startswith("https:") and spec.host:
        extra["server_hostname"] = spec.host  # SNI and the name the certificate must match
    async with session.get(
        url,
        headers=headers,
        ssl=spec.tls_verify,  # True: aiohttp's shared verifying context, built once
        allow_redirects=False,  # a 301 is a status like any other
        timeout=aiohttp.ClientTimeout(total=spec.timeout),
        **extra,  # type: ignore[arg-type]
    ) as resp:
        if resp.status not in spec.expect:
            return False, f"HTTP {resp.status}"
        if spec.contains is not None:
            body = await read_head(resp.content, BODY_LIMIT)
            if spec.contains.encode() not in body:
                return False, f"body lacks {spec.contains!r}"
        return True, f"HTTP {resp.status}"


async def read_head(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to `limit` bytes of a body: one read() may return just one chunk, so loop."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def describe(exc: BaseException, timeout: float) -> str:
    """A short, stable reason for a failed probe: it ends up in logs and the status API."""
    if isinstance(exc, TimeoutError):
        return f"timeout after {timeout:g}s"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        err = exc.certificate_error
        return f"TLS certificate: {getattr(err, 'verify_message', None) or err}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS error: {getattr(exc, 'strerror', None) or exc}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        exc = exc.os_error
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


class Checker:
    """One task per checked member feeding the board. Use as `async with Checker(board)`.

    Probes share one aiohttp session whose connections are never reused (a stopped
    endpoint must be noticed, not hidden behind a pooled socket), and a semaphore caps how
    many run at once so a thousand slow endpoints do not mean a thousand sockets.
    """

    def __init__(
        self,
        board: HealthBoard,
        rng: random.Random | None = None,
        max_concurrent: int = 200,
        instance: str = "geodns",
    ) -> None:
        self.board = board
        self.user_agent = user_agent(instance)
        self.rng = rng or random.Random()
        self.max_concurrent = max_concurrent
        self.semaphore = asyncio.Semaphore(max_concurrent)
        self.skipped_total = 0  # probes dropped because no slot freed up within an interval
        self.session: aiohttp.ClientSession | None = None
        self._tasks: dict[MemberKey, tuple[CheckSpec, asyncio.Task[None]]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._round_done = asyncio.Event()

    async def __aenter__(self) -> Checker:
        connector = aiohttp.TCPConnector(
            limit=self.max_concurrent, force_close=True, ttl_dns_cache=60
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # checks must not carry state between probes
            headers={"User-Agent": self.user_agent},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        tasks = [task for _, task in self._tasks.values()] + list(self._retiring)
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
            self.session = None

    def update(self, members: Mapping[MemberKey, CheckSpec | None]) -> None:
        """Match tasks to a (re)loaded table and reconcile the board.

        Each member is probed at its own address (`member[2]`) unless its spec has a
        `target`. Unchanged members keep their task (and, on the board, their state);
        changed and removed ones are cancelled; new ones start.
        """
        if self.session is None:
            raise RuntimeError("Checker.update() outside 'async with Checker(...)'")
        self.board.set_members(members)
        for key, (spec, task) in list(self._tasks.items()):
            if members.get(key) != spec:
                del self._tasks[key]
                self._retire(task)
        for key, spec in members.items():
            if spec is not None and key not in self._tasks:
                self._tasks[key] = (spec, asyncio.create_task(self._run(key, spec)))
        self._note_progress()

    def _retire(self, task: asyncio.Task[None]) -> None:
        # Keep a reference until the cancellation lands, or the task may be collected
        # half-cancelled ("Task was destroyed but it is pending").
        task.cancel()
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _note_progress(self) -> None:
        if self.board.first_round_done():
            self._round_done.set()
        else:
            self._round_done.clear()

    async def wait_first_round(self, timeout: float) -> bool:
        """Until every checked member has a result, or `timeout`; late ones count as failed."""
        try:
            await asyncio.wait_for(self._round_done.wait(), timeout)
            done = True
        except TimeoutError:
            late = self.board.mark_first_round_timed_out()
            log.warning("first health round: %d members without a result after %gs", late, timeout)
            done = False
        members = self.board.members()
        down = sum(1 for m in members if not self.board.is_up(m))
        log.info("first health round: %d members, %d down", len(members), down)
        return done

    async def _run(self, member: MemberKey, spec: CheckSpec) -> None:
        """Probe forever: first within min(interval, 1s), then every interval ±10%."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self.rng.uniform(0, min(spec.interval, 1.0))
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                result = await self._probe_in_slot(member, spec)
                if result is not None:
                    self.board.record(member, *result)
                    self._note_progress()
            except Exception:  # never let one member's bug stop its checks for good
                log.exception("health check of %s/%s %s failed", *member)
            # Fixed rate with jitter; if a slow round put us behind, do not burst to catch up.
            due = max(due + spec.interval * self.rng.uniform(0.9, 1.1), loop.time())

    async def _probe_in_slot(self, member: MemberKey, spec: CheckSpec) -> tuple[bool, str] | None:
        """Wait at most one interval for a slot; the probe's own timeout starts only then,
        so our queueing never fails an endpoint. No slot: skip the round (None)."""
        try:
            async with asyncio.timeout(spec.interval):
                await self.semaphore.acquire()
        except TimeoutError:
            self.skipped_total += 1
            log.debug("%s/%s %s: no probe slot within %gs, skipped", *member, spec.interval)
            return None
        try:
            assert self.session is not None
            return await probe(spec, member[2], self.session)
        finally:
            self.semaphore.release()
