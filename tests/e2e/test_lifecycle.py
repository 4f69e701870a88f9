"""A start that fails half-way stops what it started: no port, process, task or thread left.

The app enters each part on one AsyncExitStack (geodns/app/lifecycle.py); these tests make a
real step fail after others run (a taken port; signal handlers asked for off the main thread)
and look at the machine afterwards: the ports bind again, no worker process is left, no task
is pending in the loop, and this process holds the threads and descriptors it had before.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from geodns import config
from geodns.app import App
from geodns.errors import GeoDNSError
from tests.e2e.fleetkit import Backend, NatsServer, zone_text
from tests.servers import DATA, REPO, write_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children() -> set[int]:
    """This process's child processes (forked workers), from /proc."""
    found: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            found |= {int(pid) for pid in f.read().split()}
    return found


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def assert_free(port: int) -> None:
    """Bindable again for UDP and TCP, without SO_REUSEADDR: nothing of ours holds it."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", port))


def start_in_thread(conf: config.Config, signals: bool) -> tuple[BaseException | None, list]:
    """Enter App(conf) in a thread of its own (asyncio.run: the loop and its executor end);
    the error it raised and the tasks still pending in its loop after the raise."""
    result: dict = {}

    async def main() -> None:
        try:
            async with App(conf, handle_signals=signals):
                result["started"] = True
        except BaseException as exc:  # what the test looks at
            result["error"] = exc
        current = asyncio.current_task()
        result["pending"] = [t for t in asyncio.all_tasks() if t is not current]

    thread = threading.Thread(target=lambda: asyncio.run(main()))
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the start neither finished nor failed within 60 s"
    return result.get("error"), result["pending"]


def test_taken_probe_port_stops_dns_and_http_and_names_the_key(tmp_path: Path) -> None:
    """DNS sockets bound and the HTTP API listening, then http.probe_listen is taken."""
    dns_port, http_port = free_port(), free_port()
    threads, fds = threading.active_count(), open_fds()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        probe_port = taken.getsockname()[1]
        path = write_config(
            tmp_path,
            DATA / "zones" / "core",
            dns={"listen": [f"127.0.0.1:{dns_port}"]},
            http={"listen": f"127.0.0.1:{http_port}", "probe_listen": f"127.0.0.1:{probe_port}"},
        )
        error, pending = start_in_thread(config.load(str(path)), signals=False)
    assert isinstance(error, OSError), error  # serve prints it and exits 1 (cli.py)
    assert f"cannot listen on HTTP 127.0.0.1:{probe_port}: address already in use" in str(error)
    assert "pick another port in http.probe_listen" in str(error)
    assert pending == []
    assert_free(dns_port)
    assert_free(http_port)
    assert threading.active_count() == threads
    assert open_fds() == fds


def test_serve_exits_1_with_the_reason_when_a_late_port_is_taken(tmp_path: Path) -> None:
    """The CLI: the same failure is one line on stderr and exit code 1, no traceback, and
    the process ends (nothing it started keeps it alive)."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        probe_port = taken.getsockname()[1]
        path = write_config(
            tmp_path,
            DATA / "zones" / "core",
            http={"listen": "127.0.0.1:0", "probe_listen": f"127.0.0.1:{probe_port}"},
        )
        done = subprocess.run(
            [sys.executable, "-m", "geodns", "serve", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on HTTP 127.0.0.1:{probe_port}: address already in use" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def nats(tmp_path: Path):
    server = NatsServer(tmp_path / "js").start()
    yield server
    server.stop()


def test_last_step_failing_stops_workers_fleet_checks_and_ports(tmp_path: Path, nats) -> None:
    """Everything runs (two forked workers, the fleet joined on a real nats-server, health
    checks probing a real backend, HTTP, DNS) when the last step, the signal handlers,
    fails: asked for off the main thread. Everything stops, newest first, and says why."""
    threads, fds, kids = threading.active_count(), open_fds(), children()
    backend = Backend()  # closed before the counts are compared
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "fleet.test.yaml").write_text(zone_text(backend.port, backend.port))
    dns_port, http_port = free_port(), free_port()
    path = write_config(
        tmp_path,
        zones,
        dns={"listen": [f"127.0.0.1:{dns_port}"], "workers": 2},
        http={"listen": f"127.0.0.1:{http_port}"},
        fleet={"nats": [nats.url], "stale_after": "2s", "replicas": 1},
        instance="one",
        state_dir=str(tmp_path / "state"),
    )
    try:
        error, pending = start_in_thread(config.load(str(path)), signals=True)
    finally:
        backend.close()
    assert isinstance(error, GeoDNSError), error
    assert "handle_signals needs the main thread" in str(error)
    assert backend.agents, "the health checks never ran: the failure came too early"
    assert pending == []
    assert children() == kids, "a worker process outlived the failed start"
    assert_free(dns_port)
    assert_free(http_port)
    assert threading.active_count() == threads
    assert open_fds() == fds
