"""The API's front door on a real server: header, body and idle deadlines, the connection cap,
and malformed requests counted into one WARNING line instead of a traceback each."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from geodns.ops import httpfront
from tests.e2e import http_client
from tests.servers import DATA, ServerThread, wait_for, write_config

CORE = DATA / "zones" / "core"
LIMITS = {
    "header_timeout": "300ms",
    "body_timeout": "300ms",
    "idle_timeout": "600ms",
    "max_connections": 4,
}


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerThread]:
    monkeypatch.setattr(httpfront, "REPORT_INTERVAL", 0.5)  # the tallies' interval, for speed
    srv = ServerThread(write_config(tmp_path, CORE, http={"listen": "127.0.0.1:0", **LIMITS}))
    yield srv.start()
    srv.stop()


def connect(server: ServerThread) -> socket.socket:
    sock = socket.create_connection(server.app.http_bound, timeout=5)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed the connection (EOF or reset); fails after `seconds`."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def get(server: ServerThread, path: str) -> tuple[int, str]:
    return http_client.get(server.app.http_bound, path)


def test_slow_headers_are_cut_off(server: ServerThread) -> None:
    silent, partial = connect(server), connect(server)
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line
    assert closed_within(silent, 3) < 2
    assert closed_within(partial, 3) < 2
    assert get(server, "/healthz") == (200, "ok\n")


def test_a_trickled_body_gets_408(server: ServerThread) -> None:
    sock = connect(server)
    sock.sendall(b"POST /api/v1/rtt/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123")
    sock.settimeout(3)
    assert sock.recv(4096).startswith(b"HTTP/1.1 408")
    assert closed_within(sock, 3) < 2


def test_keep_alive_is_served_then_idle_closed(server: ServerThread) -> None:
    sock = connect(server)
    for _ in range(3):  # one connection, several requests: each within the header deadline
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wait_for(lambda: sock.recv(4096), 3).endswith(b"ok\n")
        time.sleep(0.1)  # well within idle_timeout: the connection stays
    assert closed_within(sock, 3) < 2  # then idle_timeout closes it


def test_connections_over_the_cap_are_closed_at_once(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    held = [connect(server) for _ in range(4)]
    wait_for(lambda: len(server.app._runner.guard.open) == 4, 3)
    extra = [connect(server) for _ in range(6)]
    for sock in extra:
        assert closed_within(sock, 2) < 0.5
    lines = wait_for(lambda: _warnings(caplog, "connection cap (4) reached"), 3)
    assert len(lines) <= 2  # the first at once, the rest in one line with a count
    for sock in held:
        sock.close()
    wait_for(lambda: not server.app._runner.guard.open, 3)
    assert get(server, "/healthz") == (200, "ok\n")


def test_bad_requests_are_one_warning_with_a_count(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(30):
        sock = connect(server)
        sock.sendall(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        sock.settimeout(3)
        assert sock.recv(4096).startswith(b"HTTP/1.0 400")
        sock.close()
    summary = wait_for(lambda: _warnings(caplog, "more in the last"), 3)
    lines = _warnings(caplog, "bad HTTP requests")
    assert len(lines) == 2, lines  # the first one, then one line for the other 29
    assert "29 more in the last 0.5s" in summary[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info or r.exc_text]


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and text in r.getMessage()
    ]
