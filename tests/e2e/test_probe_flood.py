"""600 slow-header clients hold the API's connection cap; the liveness probe exactly as
deploy/kubernetes configures it (path, port, timeout) passes 12 of 12 on http.probe_listen."""

from __future__ import annotations

import http.client
import re
import resource
import selectors
import socket
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from geodns.config import parse_hostport
from tests.servers import DATA, REPO, ServerProcess, wait_for, write_config

KUBE = REPO / "deploy" / "kubernetes" / "base"
CLIENTS = 600
PROBES = 12
PERIOD = 0.5  # the kubelet waits periodSeconds (10 s) between probes: compressed here
HEAD = b"GET /api/v1/status HTTP/1.1\r\nHost: geodns\r\n"


def liveness() -> tuple[dict[str, Any], int]:
    """The geodns container's livenessProbe and the config port its named port maps to."""
    docs = [d for d in yaml.safe_load_all((KUBE / "deployment.yaml").read_text()) if d]
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    geodns = next(c for c in pod["containers"] if c["name"] == "geodns")
    probe = geodns["livenessProbe"]
    name = probe["httpGet"]["port"]
    port = next(p["containerPort"] for p in geodns["ports"] if p["name"] == name)
    return probe, port


def configured_http() -> dict[str, Any]:
    configmap = yaml.safe_load((KUBE / "configmap-config.yaml").read_text())
    return yaml.safe_load(configmap["data"]["geodns.yaml"])["http"]


class SlowHeaders:
    """CLIENTS connections that send half a request's headers and then a byte a second;
    one closed by the server (deadline, cap) is opened again at once, as an attacker would."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.addr = addr
        self.sel = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.reconnects = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(self.addr)
        self.sel.register(sock, selectors.EVENT_WRITE, [False, 0.0])

    def _close(self, sock: socket.socket) -> None:
        self.sel.unregister(sock)
        sock.close()
        self.reconnects += 1
        self._open()

    def _run(self) -> None:
        for _ in range(CLIENTS):
            self._open()
        deadline = time.monotonic() + 120  # bounded whatever the test does
        while not self.stop.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            for key, events in self.sel.select(0.1):
                sock, state = key.fileobj, key.data
                try:
                    if events & selectors.EVENT_READ and not sock.recv(4096):
                        self._close(sock)  # the server gave up on us: come back
                    elif events & selectors.EVENT_WRITE and not state[0]:
                        sock.send(HEAD)
                        state[0], state[1] = True, now
                        self.sel.modify(sock, selectors.EVENT_READ, state)
                except OSError:
                    self._close(sock)
            for key in list(self.sel.get_map().values()):
                state = key.data
                if state[0] and now - state[1] >= 1.0:
                    state[1] = now
                    try:
                        key.fileobj.send(b"X")  # a header that never ends
                    except OSError:
                        self._close(key.fileobj)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()

    def __enter__(self) -> SlowHeaders:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def get(addr: tuple[str, int], path: str, timeout: float) -> int | str:
    """One kubelet-style probe: a new connection, GET, the status (or why there is none)."""
    conn = http.client.HTTPConnection(*addr, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "kube-probe/1.29"})
        return conn.getresponse().status
    except OSError as exc:
        return type(exc).__name__
    finally:
        conn.close()


def test_liveness_probe_passes_while_the_api_is_flooded(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < CLIENTS + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    probe, container_port = liveness()
    shipped = configured_http()
    # Which of the shipped listeners the kubelet reaches: it must be the probes' own.
    by_port = {parse_hostport(shipped[k], 8053)[1]: k for k in ("listen", "probe_listen")}
    assert by_port.get(container_port) == "probe_listen", (container_port, shipped)
    http_conf = {"listen": "127.0.0.1:0", "probe_listen": "127.0.0.1:0"}
    config = write_config(tmp_path, DATA / "zones" / "core", http=http_conf)
    server = ServerProcess(["serve", "--config", str(config)]).start()
    try:
        api = addr_in(server, "HTTP API")
        probes = addr_in(server, "HTTP probes")
        path, timeout = probe["httpGet"]["path"], probe["timeoutSeconds"]
        assert get(probes, path, timeout) == 200
        with SlowHeaders(api) as flood:
            wait_for(lambda: "connection cap (256) reached" in server.log, 20)
            seen = []
            for _ in range(PROBES):
                api_said = get(api, path, timeout)  # what the probe got on the API's port
                seen.append((get(probes, path, timeout), api_said))
                time.sleep(PERIOD)
            reconnects = flood.reconnects
        passed = sum(1 for status, _ in seen if 200 <= status < 400 if isinstance(status, int))
        assert passed == PROBES, seen
        # The flood was real: the same probe on the API's own port failed most of the time.
        failed_on_api = sum(1 for _, status in seen if status != 200)
        assert failed_on_api >= PROBES // 2, (seen, reconnects)
        assert "Traceback" not in server.log
    finally:
        assert server.stop() == 0, server.log


def addr_in(server: ServerProcess, what: str) -> tuple[str, int]:
    pattern = re.escape(what) + r" on http://([\d.]+):(\d+)"
    match = wait_for(lambda: re.search(pattern, server.log), 10)
    return match.group(1), int(match.group(2))
