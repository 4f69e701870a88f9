"""Health probes (aiohttp HTTP/HTTPS, TCP connect) and the scheduler that runs them."""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from collections.abc import Mapping

import aiohttp

from geodns.health import HealthBoard
from geodns.model import CheckSpec, MemberKey

BODY_LIMIT = 64 * 1024


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def probe_target(spec: CheckSpec, address: str) -> tuple[str, int, str | None]:
    """(host, port, url) to probe: `target` may be a URL, `host:port`, or an address."""
    target = spec.target
    if target and "://" in target:
        return address, spec.port, target
    host, port = address, spec.port
    if target:
        if target.startswith("["):
            host, _, rest = target[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else port
        elif target.count(":") == 1:
            host, port_text = target.split(":")
            port = int(port_text)
        else:
            host = target
    if spec.type == "tcp":
        return host, port, None
    return host, port, f"{spec.type}://{_hostport(host, port)}{spec.path}"


async def _http(spec: CheckSpec, url: str, session: aiohttp.ClientSession) -> tuple[bool, str]:
    headers = {"Host": spec.host} if spec.host else {}
    ssl_arg: object = None
    if url.startswith("https"):
        ssl_arg = ssl.create_default_context() if spec.tls_verify else False
    kwargs: dict = {"server_hostname": spec.host} if spec.host and ssl_arg else {}
    async with session.get(
        url,
        headers=headers,
        ssl=ssl_arg,
        allow_redirects=False,
        timeout=aiohttp.ClientTimeout(total=spec.timeout),
        **kwargs,
    ) as resp:
        if resp.status not in spec.expect:
            return False, f"HTTP {resp.status}"
        if spec.contains is not None:
            body = await resp.content.read(BODY_LIMIT)
            if spec.contains.encode() not in body:
                return False, f"HTTP {resp.status}, body lacks {spec.contains!r}"
        return True, f"HTTP {resp.status}"


async def probe(spec: CheckSpec, address: str, session: aiohttp.ClientSession) -> tuple[bool, str]:
    """One probe; never raises: every failure is (False, why)."""
    host, port, url = probe_target(spec, address)
    try:
        if url is not None:
            return await asyncio.wait_for(_http(spec, url, session), spec.timeout)
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), spec.timeout)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return True, "TCP connect ok"
    except TimeoutError:
        return False, f"timeout after {spec.timeout:g}s"
    except aiohttp.ClientSSLError as exc:
        return False, f"TLS: {exc.__class__.__name__}"
    except (aiohttp.ClientError, OSError) as exc:
        return False, str(exc) or exc.__class__.__name__
    except Exception as exc:  # a probe must never take the checker down
        return False, f"{exc.__class__.__name__}: {exc}"


class Checker:
    """One task per checked member; results go to the board. An async context manager."""

    def __init__(
        self, board: HealthBoard, rng: random.Random | None = None, max_concurrent: int = 200
    ) -> None:
        self.board = board
        self.rng = rng or random.Random()
        self.semaphore = asyncio.Semaphore(max_concurrent)
        self.tasks: dict[MemberKey, tuple[CheckSpec, str, asyncio.Task]] = {}
        self.session: aiohttp.ClientSession | None = None
        self._progress = asyncio.Event()

    async def __aenter__(self) -> Checker:
        connector = aiohttp.TCPConnector(limit=200, force_close=True, ttl_dns_cache=60)
        self.session = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _, _, task in self.tasks.values():
            task.cancel()
        for _, _, task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
        if self.session is not None:
            await self.session.close()

    def update(self, members: Mapping[MemberKey, CheckSpec | None]) -> None:
        """Start, stop or keep member tasks to match a (re)loaded table; reconcile the board."""
        self.board.set_members(members)
        for key in list(self.tasks):
            spec, _, task = self.tasks[key]
            if members.get(key) != spec:
                task.cancel()
                del self.tasks[key]
        for key, spec in members.items():
            if spec is not None and key not in self.tasks:
                task = asyncio.create_task(self._run(key, spec))
                self.tasks[key] = (spec, key[2], task)

    async def _run(self, member: MemberKey, spec: CheckSpec) -> None:
        await asyncio.sleep(self.rng.uniform(0, min(spec.interval, 1.0)))
        while True:
            async with self.semaphore:
                ok, detail = await probe(spec, member[2], self.session)  # type: ignore[arg-type]
            self.board.record(member, ok, detail)
            self._progress.set()
            await asyncio.sleep(spec.interval * self.rng.uniform(0.9, 1.1))

    async def wait_first_round(self, timeout: float) -> bool:
        """Until every checked member has a result, or `timeout`; late ones count as failed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.board.first_round_done():
            self._progress.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.board.mark_first_round_timed_out()
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        return True
