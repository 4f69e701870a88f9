"""What the fleet tests run for real: nats-server, a TCP proxy to cut one instance off, HTTP
backends that read the User-Agent, and three geodns instances on loopback."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dns.message
import pytest

from tests.servers import ServerThread, wait_for, write_config

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"
TOKEN = "fleet-secret"
BUS_KEY = "fleet-bus-key-shared-by-instances"  # fleet.key_file's secret (signed entries)
ZONE = """\
zone: fleet.test.
ttl: 5
soa: {{mname: ns1.fleet.test., rname: hostmaster.fleet.test., serial: auto}}
ns: [ns1.fleet.test.]
pools:
  p1:
    addresses: [127.0.0.11]
    check: {{type: http, port: 80, target: "127.0.0.1:{p1}", path: /health,
             interval: 200ms, timeout: 150ms, rise: 1, fall: 2}}
  p2:
    addresses: [127.0.0.12]
    check: {{type: http, port: 80, target: "127.0.0.1:{p2}", path: /health,
             interval: 200ms, timeout: 150ms, rise: 1, fall: 2}}
  dr:
    addresses: [127.0.0.21, 127.0.0.22, 127.0.0.23]
    min_healthy: 2
records:
  www: {{failover: [p1, p2]}}
  drained: {{failover: [dr]}}
  ns1: {{A: 127.0.0.53}}
{extra}"""


class NatsServer:
    """nats-server with JetStream on a loopback port and a store dir that outlives restarts."""

    def __init__(self, store: Path) -> None:
        self.store, self.port = store, 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> NatsServer:
        port = str(self.port) if self.port else "-1"  # -1: any free port, read from its log
        args = [NATS, "-a", "127.0.0.1", "-p", port, "-js", "-sd", str(self.store)]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            match = re.search(r"Listening for client connections on 127\.0\.0\.1:(\d+)", line)
            if match:
                self.port = int(match.group(1))
            if "Server is ready" in line:
                break
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep it drained
        assert self.port, "nats-server did not start"
        return self

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Proxy:
    """A TCP relay of the test's own in front of NATS; `cut()` drops every connection and
    refuses new ones until `mend()`, as a network partition would."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.open = target_port, True
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open = False
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.socks.clear()

    def mend(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


class Backend:
    """An HTTP health endpoint that fails the probes of the instances named in `fail_for`
    (it reads their User-Agent), or everyone's when `down`."""

    def __init__(self) -> None:
        self.fail_for: set[str] = set()
        self.down = False
        self.agents: set[str] = set()
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                agent = self.headers.get("User-Agent", "")
                backend.agents.add(agent)
                bad = backend.down or any(f"({n})" in agent for n in backend.fail_for)
                self.send_response(500 if bad else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Instance:
    """One geodns instance (a ServerThread) with its own zones folder, state_dir and config."""

    def __init__(
        self,
        root: Path,
        name: str,
        nats_url: str | list[str],
        zone_text: str,
        age: float,
        **fleet_keys: Any,
    ) -> None:
        self.name, self.dir = name, root / name
        self.zones = self.dir / "zones"
        self.zones.mkdir(parents=True)
        self.write_zone(zone_text, age)
        (self.dir / "token").write_text(TOKEN)
        (self.dir / "bus.key").write_text(BUS_KEY)
        urls = [nats_url] if isinstance(nats_url, str) else nats_url
        fleet = {"nats": urls, "stale_after": "2s", "replicas": 1}
        fleet["key_file"] = str(self.dir / "bus.key")
        fleet.update(fleet_keys)
        self.config = write_config(
            self.dir,
            self.zones,
            http={"listen": "127.0.0.1:0", "token_file": str(self.dir / "token")},
            fleet=fleet,
            instance=name,
            state_dir=str(self.dir / "state"),
        )
        self.server: ServerThread | None = None

    def write_zone(self, text: str, age: float) -> None:
        path, tmp = self.zones / "fleet.test.yaml", self.zones / ".fleet.test.yaml.new"
        tmp.write_text(text)  # then renamed: a reload at the same moment sees old or new
        stamp = time.time() - age  # each instance's copy has other file times
        os.utime(tmp, (stamp, stamp))
        os.replace(tmp, path)

    def start(self) -> Instance:
        self.server = ServerThread(self.config).start(timeout=30)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def app(self) -> Any:
        assert self.server is not None
        return self.server.app

    def http(self, path: str, method: str = "GET", token: str | None = TOKEN) -> tuple[int, Any]:
        host, port = self.app.http_bound
        req = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def answer(self, name: str = "www.fleet.test.") -> list[str]:
        """The A records this instance answers with (raises on timeout or no answer)."""
        assert self.server is not None
        reply = self.server.udp(dns.message.make_query(name, "A"), timeout=2)
        return sorted(rr.address for rrset in reply.answer for rr in rrset)

    def serial(self) -> int:
        assert self.server is not None
        reply = self.server.udp(dns.message.make_query("fleet.test.", "SOA"), timeout=2)
        return reply.answer[0][0].serial

    def fleet_state(self) -> str:
        return self.http("/api/v1/status")[1]["fleet"]["state"]


def zone_text(p1: int, p2: int, extra: str = "") -> str:
    return ZONE.format(p1=p1, p2=p2, extra=extra)


def all_joined(instances: list[Instance], count: int = 3) -> bool:
    return all(
        i.http("/api/v1/status")[1]["fleet"] == {"state": "joined", "instances": count}
        for i in instances
    )


@pytest.fixture
def nats_server(tmp_path: Path):
    if not Path(NATS).exists():
        pytest.skip("nats-server is not installed (apt-get install nats-server)")
    server = NatsServer(tmp_path / "jetstream").start()
    yield server
    server.stop()


@pytest.fixture
def backends():
    pair = (Backend(), Backend())
    yield pair
    for b in pair:
        b.close()


@pytest.fixture
def fleet(tmp_path: Path, nats_server: NatsServer, backends: tuple[Backend, Backend]):
    """Three instances a, b, c on one bucket; c reaches NATS through a cuttable proxy."""
    proxy = Proxy(nats_server.port)
    text = zone_text(backends[0].port, backends[1].port)
    urls = {"a": nats_server.url, "b": nats_server.url, "c": f"nats://127.0.0.1:{proxy.port}"}
    ages = {"a": 0.0, "b": 3600.0, "c": 86400.0}
    made = [Instance(tmp_path, n, urls[n], text, ages[n]) for n in ("a", "b", "c")]
    for instance in made:
        instance.start()
    wait_for(lambda: all_joined(made), timeout=15)
    yield made, proxy
    for instance in made:
        instance.stop()
    proxy.close()


__all__ = ["Backend", "Instance", "NatsServer", "Proxy", "wait_for", "zone_text"]
