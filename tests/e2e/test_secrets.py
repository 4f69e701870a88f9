"""Secrets stay out of logs and status: check URLs are masked; a bad token file is one line."""

from __future__ import annotations

import json
import logging
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import http_client
from tests.servers import DATA, REPO, ServerThread, wait_for, write_config

ZONE = """\
zone: secret.test.
ns: [ns1.secret.test.]
pools:
  web:
    addresses: [192.0.2.10]
    check:
      type: http
      target: "http://alice:s3cret-pw@127.0.0.1:{port}/health?token=tok-abc123#frag-xyz"
      interval: 1s
      timeout: 500ms
      fall: 1
records:
  ns1: {{A: 192.0.2.53}}
  www: {{failover: [web]}}
"""
SECRETS = ("s3cret-pw", "tok-abc123", "frag-xyz")


class BrokenHttp(socketserver.BaseRequestHandler):
    """A real HTTP endpoint whose reply aiohttp rejects, so its error repeats the URL."""

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data and (chunk := self.request.recv(4096)):
            data += chunk
        self.request.sendall(b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 2\r\n\r\nok")


@pytest.fixture
def endpoint() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), BrokenHttp)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def status(server: ServerThread) -> dict:
    return http_client.get_json(server.app.http_bound, "/api/v1/status")


def test_check_url_secrets_never_in_status_or_log(
    tmp_path: Path, endpoint: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "secret.test.yaml").write_text(ZONE.format(port=endpoint))
    server = ServerThread(write_config(tmp_path, zones)).start()
    try:

        def detail() -> str:
            members = status(server)["zones"][0]["pools"][0]["members"]
            return members[0]["last_detail"]

        text = wait_for(lambda: "url=" in detail() and detail(), 10)
        assert f"127.0.0.1:{endpoint}/health?***#***'" in text  # aiohttp drops userinfo
        raw = json.dumps(status(server))
        logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
        assert "is down" in logged and "/health?***" in logged
        for secret in SECRETS:
            assert secret not in raw
            assert secret not in logged
    finally:
        server.stop()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "geodns", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


@pytest.mark.parametrize("content", ["", "  \n"])
@pytest.mark.parametrize("command", ["serve", "check"])
def test_an_empty_token_file_is_one_clean_error(tmp_path: Path, content: str, command: str) -> None:
    token = tmp_path / "token"
    token.write_text(content)
    config = write_config(tmp_path, DATA / "zones" / "core", http={"token_file": str(token)})
    result = run_cli(command, "--config", str(config))
    assert result.returncode == 1
    assert f"{token}: http.token_file is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_token_file_fails_check(tmp_path: Path) -> None:
    token = tmp_path / "nowhere"
    config = write_config(tmp_path, DATA / "zones" / "core", http={"token_file": str(token)})
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 1
    assert f"{token}: cannot read http.token_file: No such file or directory" in result.stderr
