"""Helpers for the steering tests: a metrics exporter the test controls, Debian's Prometheus
scraping it on loopback, many DNS queries over one UDP socket, and the HTTP calls."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.edns
import dns.message
import pytest
import yaml

from tests.servers import ServerThread, wait_for

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


class Exporter:
    """`gpu_util{pool="..."} value` lines on /metrics; the test sets the values."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                lines = [f'gpu_util{{pool="{p}"}} {v}' for p, v in sorted(exporter.values.items())]
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """Debian's prometheus on an ephemeral loopback port, scraping `target` every second."""

    def __init__(self, tmp: Path, target: str) -> None:
        if not Path(PROMETHEUS).exists():
            pytest.skip("the prometheus binary is not installed (apt-get install prometheus)")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "gpu", "static_configs": [{"targets": [target]}]}],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.listen = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.listen}"
        self.log_path = tmp / "prometheus.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address={self.listen}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, timeout=30, interval=0.1)

    def _ready(self) -> bool:
        assert self.proc.poll() is None, self.log_path.read_text()
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self._log.close()


def ask_many(server: ServerThread, name: str, ecs: list[str | None], batch: int = 100) -> list:
    """The first A address of the answer for each ECS prefix (None: no ECS), over one UDP
    socket, `batch` queries in flight at a time (matched by ID)."""
    host, port = server.where(4)
    out: list[str | None] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.connect((host, port))
        for start in range(0, len(ecs), batch):
            chunk = ecs[start : start + batch]
            ids = {}
            for i, prefix in enumerate(chunk):
                opts = [dns.edns.ECSOption.from_text(prefix)] if prefix else []
                q = dns.message.make_query(name, "A", use_edns=0, options=opts)
                q.id = i + 1
                ids[q.id] = i
                sock.send(q.to_wire())
            got: list[str | None] = [None] * len(chunk)
            for _ in chunk:
                reply = dns.message.from_wire(sock.recv(4096))
                got[ids[reply.id]] = reply.answer[0][0].address if reply.answer else ""
            out += got
    return out


def shares(server: ServerThread, name: str, n: int) -> dict[str, float]:
    counts = Counter(ask_many(server, name, [None] * n))
    return {k: v / n for k, v in counts.items()}


def http(server: ServerThread, path: str, method: str = "GET", body: Any = None, token=None):
    """(status, JSON) of one API call."""
    host, port = server.app.http_bound
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{host}:{port}{path}", data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def capacity(server: ServerThread) -> dict[str, dict]:
    """Each capacity pool's status entry by pool name."""
    status = http(server, "/api/v1/status")[1]
    return {p["pool"]: p for p in status["steering"]["capacity"]}
