"""`geodns healthcheck`: the image's HEALTHCHECK asks the server at the config's http.listen."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.servers import DATA, ServerProcess, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthcheck(config: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "geodns", "healthcheck", "--config", str(config), *flags],
        capture_output=True,
        text=True,
        timeout=30,
    )


def write(tmp: Path, http_listen: str | None) -> Path:
    path = tmp / "geodns.yaml"
    conf = {
        "dns": {"listen": ["127.0.0.1:0"]},
        "http": {"listen": http_listen},
        "zones_dir": str(DATA / "zones" / "core"),
        "reload": {"watch": False},
    }
    path.write_text(yaml.safe_dump(conf))
    return path


def test_healthcheck_follows_http_listen_wildcard_included(tmp_path: Path) -> None:
    port = free_port()
    config = write(tmp_path, f"0.0.0.0:{port}")  # probed on 127.0.0.1
    server = ServerProcess(["serve", "--config", str(config)]).start()
    try:
        alive = healthcheck(config)
        assert alive.returncode == 0 and f"http://127.0.0.1:{port}/healthz: 200" in alive.stdout
        wait_for(lambda: healthcheck(config, "--ready").returncode == 0, 20, 0.2)
    finally:
        assert server.stop() == 0, server.log
    gone = healthcheck(config)
    assert gone.returncode == 1 and f"127.0.0.1:{port}/healthz" in gone.stderr


def test_healthcheck_without_http(tmp_path: Path) -> None:
    result = healthcheck(write(tmp_path, None))
    assert result.returncode == 0 and "http.listen is null" in result.stdout


def test_healthcheck_on_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("http:\n  listen: nowhere\n")
    result = healthcheck(path)
    assert result.returncode == 1 and f"{path}:2:" in result.stderr
