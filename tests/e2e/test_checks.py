"""Probes and the Checker against real local servers (aiohttp, asyncio TCP) on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from geodns.health.board import TIMED_OUT, HealthBoard
from geodns.health.probes import Checker, probe, probe_target
from geodns.model import CheckSpec

Z = "checks.test."


# -- servers ---------------------------------------------------------------------------------


class Site:
    """An aiohttp app on 127.0.0.1 that records what it was asked; stop and start again
    on the same port to play an endpoint that goes away and comes back."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.hosts: list[str] = []
        self.port = 0
        self.runner: web.AppRunner | None = None
        self.in_flight = self.peak = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ok", self.ok)
        app.router.add_get("/status/{code}", self.status)
        app.router.add_get("/big", self.big)
        app.router.add_get("/trickle", self.trickle)
        app.router.add_get("/endless", self.endless)
        app.router.add_get("/moved", self.moved)
        app.router.add_get("/slow", self.slow)
        return app

    async def ok(self, request: web.Request) -> web.Response:
        self.hosts.append(request.headers.get("Host", ""))
        return web.Response(text="all ok")

    async def status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="ok")

    async def big(self, request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 70_000 + b"needle")  # the needle is past 64 KiB

    async def trickle(self, request: web.Request) -> web.StreamResponse:
        """The needle inside 64 KiB but after several separate writes."""
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(5):
            await resp.write(b"y" * 1000)
            await asyncio.sleep(0.01)
        await resp.write(b"needle")
        return resp

    async def endless(self, request: web.Request) -> web.StreamResponse:
        """A body that never ends: a probe must stop at 64 KiB, not read it all."""
        resp = web.StreamResponse()
        await resp.prepare(request)
        while True:
            await resp.write(b"z" * 16384)

    async def slow(self, request: web.Request) -> web.Response:
        """Answers after 0.2 s; counts requests in flight (done before the reply leaves)."""
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.2)
        self.in_flight -= 1
        return web.Response(text="ok")

    async def moved(self, request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/ok")

    async def start(self) -> Site:
        self.runner = web.AppRunner(self.app(), handle_signals=False, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=self.tls)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    s = await Site().start()
    yield s
    await s.stop()


class Silent:
    """Accepts TCP connections and never says a word; notes when each arrived."""

    def __init__(self) -> None:
        self.accepted: list[float] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.monotonic())
        self.writers.append(writer)
        await reader.read()  # until the prober gives up
        writer.close()

    async def __aenter__(self) -> Silent:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:  # a server's close() leaves accepted connections open
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await self.server.wait_closed()


def free_port() -> int:
    """A port nobody listens on (bound, noted, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, list[str]]:
    """A server context with a fresh self-signed certificate, and the SNI names it saw."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "www.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName("www.example.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .sign(key, hashes.SHA256())
    )
    d: Path = tmp_path_factory.mktemp("tls")
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    sni: list[str] = []
    ctx.sni_callback = lambda _sock, server_name, _ctx: sni.append(server_name or "")
    return ctx, sni


async def run(spec: CheckSpec, address: str = "127.0.0.1") -> tuple[bool, str]:
    async with aiohttp.ClientSession() as session:
        return await probe(spec, address, session)


# -- probes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expect", "ok", "detail"),
    [
        ("/ok", (200,), True, "HTTP 200"),
        ("/status/503", (200,), False, "HTTP 503"),
        ("/status/204", (200, 204), True, "HTTP 204"),
        ("/status/404", (200, 204), False, "HTTP 404"),
        ("/moved", (200,), False, "HTTP 301"),  # redirects are not followed
        ("/moved", (301, 302), True, "HTTP 301"),
    ],
)
async def test_http_status_and_expect(site: Site, path, expect, ok, detail) -> None:
    assert await run(CheckSpec("http", site.port, path, expect=expect)) == (ok, detail)


@pytest.mark.parametrize(
    ("path", "contains", "ok"),
    [
        ("/ok", "ok", True),
        ("/ok", "missing", False),
        ("/big", "needle", False),  # beyond the first 64 KiB counts as absent
        ("/big", "xxx", True),
        ("/trickle", "needle", True),  # arrives in pieces, still within 64 KiB
        ("/endless", "never there", False),  # stops at 64 KiB instead of reading forever
    ],
)
async def test_http_contains(site: Site, path: str, contains: str, ok: bool) -> None:
    started = time.monotonic()
    result = await run(CheckSpec("http", site.port, path, contains=contains, timeout=3))
    assert result == (ok, "HTTP 200" if ok else f"body lacks {contains!r}")
    assert time.monotonic() - started < 1.5


async def test_host_header(site: Site) -> None:
    await run(CheckSpec("http", site.port, "/ok"))
    await run(CheckSpec("http", site.port, "/ok", host="www.example.test"))
    assert site.hosts == [f"127.0.0.1:{site.port}", "www.example.test"]


async def test_https_self_signed(tls_context) -> None:
    ctx, sni = tls_context
    s = await Site(tls=ctx).start()
    try:
        spec = CheckSpec("https", s.port, "/ok", host="www.example.test", tls_verify=False)
        assert await run(spec) == (True, "HTTP 200")
        assert sni[-1] == "www.example.test" and s.hosts[-1] == "www.example.test"
        ok, detail = await run(CheckSpec("https", s.port, "/ok", host="www.example.test"))
        assert not ok and detail.startswith("TLS certificate:"), detail
        ok, detail = await run(CheckSpec("https", s.port, "/ok"))  # verify against the IP
        assert not ok and detail.startswith("TLS"), detail
    finally:
        await s.stop()


async def test_tcp_up_and_refused() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    assert await run(CheckSpec("tcp", port, timeout=1)) == (True, "TCP connect ok")
    server.close()
    await server.wait_closed()
    assert await run(CheckSpec("tcp", port, timeout=1)) == (False, "connection refused")
    assert await run(CheckSpec("http", port, timeout=1)) == (False, "connection refused")


async def test_timeout_when_the_server_never_answers() -> None:
    async with Silent() as silent:
        started = time.monotonic()
        result = await run(CheckSpec("http", silent.port, "/", timeout=0.3))
        assert result == (False, "timeout after 0.3s")
        assert time.monotonic() - started < 1.0


async def test_target_replaces_what_is_probed(site: Site) -> None:
    unreachable = "192.0.2.1"  # TEST-NET: the answered address, never probed here
    port = site.port
    for spec in (
        CheckSpec("http", 9, "/ok", timeout=1, target=f"127.0.0.1:{port}"),
        CheckSpec("http", port, "/ok", timeout=1, target="127.0.0.1"),
        CheckSpec("http", 9, "/nope", timeout=1, target=f"http://127.0.0.1:{port}/ok"),
        CheckSpec("tcp", 9, timeout=1, target=f"127.0.0.1:{port}"),
        CheckSpec("tcp", 9, timeout=1, target=f"http://127.0.0.1:{port}/"),
    ):
        assert (await run(spec, unreachable))[0], spec


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback")
async def test_ipv6_literal_is_bracketed() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "::1", 0).start()
    try:
        port = runner.addresses[0][1]
        assert await run(CheckSpec("http", port, "/"), "::1") == (True, "HTTP 200")
        assert (await run(CheckSpec("tcp", 9, target=f"[::1]:{port}"), "192.0.2.1"))[0]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("spec", "address", "expected"),
    [
        (CheckSpec("http", 80, "/h"), "192.0.2.1", ("192.0.2.1", 80, "http://192.0.2.1:80/h")),
        (CheckSpec("https", 443), "2001:db8::1", ("2001:db8::1", 443, "https://[2001:db8::1]:443/")),
        (CheckSpec("tcp", 22), "192.0.2.1", ("192.0.2.1", 22, None)),
        (CheckSpec("tcp", 22, target="[2001:db8::2]:23"), "192.0.2.1", ("2001:db8::2", 23, None)),
        (CheckSpec("tcp", 22, target="2001:db8::2"), "192.0.2.1", ("2001:db8::2", 22, None)),
        (CheckSpec("http", 80, target="lb.example.test:8080"), "192.0.2.1",
         ("lb.example.test", 8080, "http://lb.example.test:8080/")),
    ],
)  # fmt: skip
def test_probe_target(spec: CheckSpec, address: str, expected) -> None:
    assert probe_target(spec, address) == expected


async def test_probe_never_raises() -> None:
    ok, detail = await run(CheckSpec("tcp", 1, target="127.0.0.1:notaport"))
    assert not ok and detail


# -- the Checker -----------------------------------------------------------------------------


async def wait_for_state(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `check` every 20 ms until it holds; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


class HistoryBoard(HealthBoard):
    """A real board that also keeps every (ok, state after) pair, to count steps exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[tuple, list[tuple[bool, str]]] = {}

    def record(self, member, ok: bool, detail: str) -> None:
        super().record(member, ok, detail)
        if (st := self.status(member)) is not None:
            self.history.setdefault(member, []).append((ok, st.state))


async def test_endpoint_stops_then_returns(site: Site) -> None:
    """Down after `fall` failures in a row, back up after `rise` passes in a row."""
    board = HistoryBoard()
    web_m, tcp_m = (Z, "web", "127.0.0.1"), (Z, "tcp", "127.0.0.1")
    fast = {"interval": 0.05, "timeout": 0.2, "rise": 2, "fall": 3}
    async with Checker(board, rng=random.Random(1)) as checker:
        checker.update(
            {
                web_m: CheckSpec("http", site.port, "/ok", contains="ok", **fast),
                tcp_m: CheckSpec("tcp", site.port, **fast),
            }
        )
        assert await checker.wait_first_round(2.0)
        assert board.is_up(web_m) and board.is_up(tcp_m)
        await site.stop()
        await wait_for_state(lambda: not board.is_up(web_m) and not board.is_up(tcp_m))
        assert board.status(web_m).last_detail == "connection refused"
        await site.start()  # same port
        await wait_for_state(lambda: board.is_up(web_m) and board.is_up(tcp_m))
    for member in (web_m, tcp_m):
        states = "".join(
            ("P" if ok else "F") + state[0].upper() for ok, state in board.history[member]
        )
        assert "PUFUFUFD" in states  # the third failure in a row takes it down
        assert "FDPDPU" in states  # the second pass in a row brings it up
        assert board.transitions_total[(*member, "down")] == 1


async def test_update_keeps_unchanged_members_running(site: Site) -> None:
    board = HealthBoard()
    bad, gone, added = (Z, "a", "127.0.0.1"), (Z, "b", "127.0.0.1"), (Z, "c", "127.0.0.1")
    bad_spec = CheckSpec("http", site.port, "/status/503", interval=0.05, timeout=0.2, fall=1)
    tcp = CheckSpec("tcp", site.port, interval=0.05, timeout=0.2)
    async with Checker(board, rng=random.Random(2)) as checker:
        checker.update({bad: bad_spec, gone: tcp, (Z, "static", "192.0.2.9"): None})
        assert await checker.wait_first_round(2.0)
        assert not board.is_up(bad) and board.is_up(gone)
        checker.update({bad: bad_spec, added: tcp})
        assert board.status(bad).state == "down"  # kept: no trip through unknown
        assert board.status(gone) is None and board.status(added).state == "unknown"
        gone_checks = board.checks_total[(Z, "b", "pass")]
        await wait_for_state(lambda: board.checks_total[(Z, "c", "pass")] >= 5)
        assert board.checks_total[(Z, "b", "pass")] == gone_checks  # its task was cancelled
        assert board.transitions_total[(*bad, "down")] == 1
        checker.update({bad: CheckSpec("http", site.port, "/ok", interval=0.05, timeout=0.2)})
        assert board.status(bad).state == "unknown"  # a changed check starts over
        await wait_for_state(lambda: board.is_up(bad) and board.status(bad).state == "up")


async def test_first_round_timeout_marks_the_late_ones_down() -> None:
    board = HealthBoard()
    member = (Z, "slow", "127.0.0.1")
    async with Silent() as silent, Checker(board) as checker:
        checker.update({member: CheckSpec("http", silent.port, interval=2.0, timeout=2.0)})
        started = time.monotonic()
        assert not await checker.wait_first_round(0.2)
        assert time.monotonic() - started < 0.5
        st = board.status(member)
        assert (st.state, st.last_detail, board.is_up(member)) == ("down", TIMED_OUT, False)


class AllAtOnce(random.Random):
    """Every member due at the same instant: the worst case for the probe slots."""

    def uniform(self, a: float, b: float) -> float:
        return a


async def test_semaphore_bounds_concurrent_probes(site: Site) -> None:
    """Two slots, eight members due at once at an endpoint that takes 0.2 s: never more
    than two requests in flight, and a probe's 0.5 s timeout starts when it gets a slot,
    so waiting in line (up to 0.6 s here) fails nobody."""
    board = HealthBoard()
    async with Checker(board, AllAtOnce(), max_concurrent=2) as checker:
        spec = CheckSpec("http", site.port, "/slow", interval=2.0, timeout=0.5)
        members = {(Z, f"p{i}", "127.0.0.1"): spec for i in range(8)}
        checker.update(members)
        assert await checker.wait_first_round(3.0)
        assert {board.status(m).last_detail for m in members} == {"HTTP 200"}
        assert site.peak == 2
        assert checker.skipped_total == 0


async def test_probes_without_a_slot_for_a_whole_interval_are_skipped() -> None:
    """One slot, 0.2 s probes, a 0.3 s interval: the third in line would wait 0.4 s, so it
    skips the round rather than queue without end (and records nothing: it is our
    congestion, not the endpoint's failure)."""
    board = HealthBoard()
    async with Silent() as silent, Checker(board, AllAtOnce(), max_concurrent=1) as checker:
        spec = CheckSpec("http", silent.port, interval=0.3, timeout=0.2)
        checker.update({(Z, f"p{i}", "127.0.0.1"): spec for i in range(4)})
        await wait_for_state(lambda: checker.skipped_total >= 2, timeout=3.0)
        # p2 and p3 waited out a whole interval behind p0 and p1: skipped, not failed
        assert board.status((Z, "p2", "127.0.0.1")).state == "unknown"
        assert board.status((Z, "p3", "127.0.0.1")).state == "unknown"


async def test_exit_cancels_and_closes_cleanly(site: Site) -> None:
    board = HealthBoard()
    checker = Checker(board)
    async with checker:
        checker.update(
            {(Z, "web", "127.0.0.1"): CheckSpec("http", site.port, "/ok", interval=0.05)}
        )
        await checker.wait_first_round(2.0)
    assert checker.session is None
    left = [t for t in asyncio.all_tasks() if "Checker._run" in repr(t.get_coro())]
    assert not left
    with pytest.raises(RuntimeError):
        checker.update({})
