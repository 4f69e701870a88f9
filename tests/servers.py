"""Real geodns servers for tests: in a thread (introspectable) or as a subprocess (the CLI)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import yaml

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"


# GEODNS_TEST_WORKERS=2 runs every server the e2e tests start with that many worker
# processes (dns.workers), unless a test sets dns.workers itself.
WORKERS = int(os.environ.get("GEODNS_TEST_WORKERS", "1"))
# GEODNS_TEST_FAST_PATH=native (or python) sets dns.fast_path for every such server.
FAST_PATH = os.environ.get("GEODNS_TEST_FAST_PATH", "auto")


def write_config(tmp: Path, zones_dir: Path | str, **sections: Any) -> Path:
    """A config on ephemeral loopback ports (v4 and v6) with the given sections merged in."""
    conf: dict[str, Any] = {
        "dns": {"listen": ["127.0.0.1:0", "[::1]:0"], "workers": WORKERS, "fast_path": FAST_PATH},
        "http": {"listen": "127.0.0.1:0"},
        "zones_dir": str(zones_dir),
        "reload": {"watch": False},
        "log": {"level": "info"},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(conf.get(key), dict):
            conf[key] = {**conf[key], **value}
        else:
            conf[key] = value
    path = tmp / "geodns.yaml"
    path.write_text(yaml.safe_dump(conf))
    return path


class ServerThread:
    """The whole App in a background thread with its own event loop, on ephemeral ports."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app: Any = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        import uvloop

        from geodns import config
        from geodns.app import App

        self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)

        async def run() -> None:
            conf = config.load(str(self.config_path))
            async with App(conf) as app:
                self.app = app
                self._ready.set()
                await app.run()

        try:
            self.loop.run_until_complete(run())
        except BaseException as exc:  # surfaced to the test by start()
            self.error = exc
        finally:
            self._ready.set()
            self.loop.close()

    def start(self, timeout: float = 20.0) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("server did not start")
        if self.error is not None:
            raise self.error
        return self

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return list(self.app.dns.bound)

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    def where(self, family: int = 4) -> tuple[str, int]:
        for host, port in self.addresses:
            if (":" in host) == (family == 6):
                return host, port
        raise LookupError(f"no IPv{family} listener")

    def call(self, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run fn on the server's loop (where the app lives) and return its result."""
        assert self.loop is not None

        async def wrapper() -> Any:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        future = asyncio.run_coroutine_threadsafe(wrapper(), self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        if self.loop is not None and self.app is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.app.shutdown.set)
        self._thread.join(20)

    def udp(self, query: dns.message.Message, family: int = 4, **kw: Any) -> dns.message.Message:
        host, port = self.where(family)
        return dns.query.udp(query, host, port=port, timeout=kw.pop("timeout", 3), **kw)

    def tcp(self, query: dns.message.Message, family: int = 4, **kw: Any) -> dns.message.Message:
        host, port = self.where(family)
        return dns.query.tcp(query, host, port=port, timeout=kw.pop("timeout", 3), **kw)


class ServerProcess:
    """`geodns serve` as a real process; its stderr is kept for log assertions."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log_lines: list[str] = []
        self.bound: list[tuple[str, int]] = []
        self._reader: threading.Thread | None = None
        self._listening = threading.Event()

    preexec: Callable[[], None] | None = None  # runs in the child before exec (rlimits)

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "geodns", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=REPO,
            preexec_fn=self.preexec,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._listening.wait(0.05) and self._has_serial_line():
                return self
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise RuntimeError("server exited:\n" + "".join(self.log_lines))
        raise TimeoutError("server did not start:\n" + "".join(self.log_lines))

    def _has_serial_line(self) -> bool:
        return any("serial" in line for line in self.log_lines) or bool(self.bound)

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        pattern = re.compile(r"listening on (\S+) port (\d+)")
        for line in self.proc.stdout:
            self.log_lines.append(line)
            match = pattern.search(line)
            if match:
                self.bound.append((match.group(1), int(match.group(2))))
                self._listening.set()

    @property
    def log(self) -> str:
        return "".join(self.log_lines)

    def signal(self, sig: int = signal.SIGHUP) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        return self.proc.returncode


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until predicate() is truthy (returning it) or fail after the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def run_in_pool(fn: Callable[..., Any], jobs: list[tuple], workers: int = 8) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda args: fn(*args), jobs))
