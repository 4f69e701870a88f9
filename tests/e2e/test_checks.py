"""Probes against real local servers: HTTPS with a self-signed certificate, Host, timeouts."""

from __future__ import annotations

import http.server
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import aiohttp
import pytest

from geodns.checks import probe
from geodns.model import CheckSpec


class Recorder(http.server.BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_GET(self) -> None:
        Recorder.hosts.append(self.headers.get("Host", ""))
        body = b"x" * 70_000 + b"needle" if self.path == "/big" else b"all ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve(tls_dir: Path | None = None) -> tuple[http.server.ThreadingHTTPServer, int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    if tls_dir is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls_dir / "cert.pem", tls_dir / "key.pem")
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=geodns-test",
            "-keyout",
            str(d / "key.pem"),
            "-out",
            str(d / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return d


async def run(spec: CheckSpec, address: str = "127.0.0.1") -> tuple[bool, str]:
    async with aiohttp.ClientSession() as session:
        return await probe(spec, address, session)


async def test_https_self_signed(tls_dir: Path) -> None:
    server, port = serve(tls_dir)
    try:
        ok, detail = await run(CheckSpec("https", port, "/", tls_verify=False, timeout=2))
        assert ok, detail
        ok, detail = await run(CheckSpec("https", port, "/", tls_verify=True, timeout=2))
        assert not ok and detail
    finally:
        server.shutdown()
        server.server_close()


async def test_host_header_contains_and_body_limit() -> None:
    server, port = serve()
    try:
        Recorder.hosts.clear()
        assert (await run(CheckSpec("http", port, "/", host="www.example.test", contains="ok")))[0]
        assert Recorder.hosts[-1] == "www.example.test"
        ok, detail = await run(CheckSpec("http", port, "/", contains="missing"))
        assert not ok and "lacks" in detail
        ok, _ = await run(CheckSpec("http", port, "/big", contains="needle"))
        assert not ok  # past the first 64 KiB: counts as absent
        assert not (await run(CheckSpec("http", port, "/", expect=(204,))))[0]
    finally:
        server.shutdown()
        server.server_close()


async def test_tcp_up_down_timeout_and_target() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    assert (await run(CheckSpec("tcp", port, timeout=1)))[0]
    # the answered address is unreachable; `target` points the probe at the listener
    assert (await run(CheckSpec("tcp", 9, timeout=1, target=f"127.0.0.1:{port}"), "192.0.2.1"))[0]
    listener.close()
    ok, detail = await run(CheckSpec("tcp", port, timeout=1))
    assert not ok
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers HTTP
    try:
        ok, detail = await run(CheckSpec("http", silent.getsockname()[1], timeout=0.3))
        assert not ok and "timeout" in detail
    finally:
        silent.close()
