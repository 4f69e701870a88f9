"""1,000 checked members, a third of them timing out: DNS answers stay about as fast as idle."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from pathlib import Path

import dns.message
import dns.query

from tests.servers import ServerThread, wait_for, write_config

MEMBERS_PER_POOL, POOLS = 10, 100
TIMING = "interval: 2s, timeout: 1s"


class Listeners:
    """A TCP port that accepts and closes (healthy) and one that accepts and never speaks."""

    def __init__(self) -> None:
        self.good = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.slow = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        for sock, keep in ((self.good, False), (self.slow, True)):
            sock.settimeout(0.2)
            threading.Thread(target=self._accept, args=(sock, keep), daemon=True).start()

    def _accept(self, sock: socket.socket, keep: bool) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            if keep:
                self.held.append(conn)  # never answered: the HTTP probe times out
            else:
                conn.close()

    def close(self) -> None:
        self.stop.set()
        for s in [self.good, self.slow, *self.held]:
            s.close()


def zone_text(good: int, slow: int) -> str:
    lines = [
        "zone: many.test.",
        "ttl: 5",
        "ns: [ns1.many.test.]",
        "checks:",
        f"  ok: {{type: tcp, port: {good}, target: '127.0.0.1:{good}', {TIMING}}}",
        f"  slow: {{type: http, port: {slow}, target: '127.0.0.1:{slow}', {TIMING}}}",
        "pools:",
    ]
    for p in range(POOLS):
        addrs = ", ".join(f"10.{p // 250}.{p % 250}.{m + 1}" for m in range(MEMBERS_PER_POOL))
        lines.append(f"  p{p}: {{addresses: [{addrs}], check: {'slow' if p % 3 == 0 else 'ok'}}}")
    lines += ["records:", "  ns1: {A: 192.0.2.53}", "  www: {failover: [p0, p1, p2]}"]
    return "\n".join(lines) + "\n"


def latencies(server: ServerThread, n: int = 400) -> list[float]:
    query = dns.message.make_query("www.many.test", "A")
    out = []
    for _ in range(n):
        started = time.perf_counter()
        dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
        out.append(time.perf_counter() - started)
    return out


def test_dns_latency_with_a_thousand_members(tmp_path: Path, record_property) -> None:
    listeners = Listeners()
    idle_dir, busy_dir = tmp_path / "idle" / "zones", tmp_path / "busy" / "zones"
    for d in (idle_dir, busy_dir):
        d.mkdir(parents=True)
    (idle_dir / "many.test.yaml").write_text(
        zone_text(listeners.good.getsockname()[1], listeners.slow.getsockname()[1])
        .replace(", check: slow", "")
        .replace(", check: ok", "")
    )
    (busy_dir / "many.test.yaml").write_text(
        zone_text(listeners.good.getsockname()[1], listeners.slow.getsockname()[1])
    )
    try:
        idle = ServerThread(
            write_config(tmp_path / "idle", idle_dir, dns={"listen": ["127.0.0.1:0"]})
        )
        idle.start()
        idle_lat = latencies(idle)
        idle.stop()
        busy = ServerThread(
            write_config(tmp_path / "busy", busy_dir, dns={"listen": ["127.0.0.1:0"]})
        )
        busy.start()
        board = busy.app.board
        assert len(board.members()) == POOLS * MEMBERS_PER_POOL
        wait_for(lambda: sum(board.checks_total.values()) > 1500, timeout=30)
        busy_lat = latencies(busy)
        down = sum(1 for m in board.members() if not board.is_up(m))
        busy.stop()
    finally:
        listeners.close()
    idle_p50, busy_p50 = statistics.median(idle_lat), statistics.median(busy_lat)
    idle_p95 = statistics.quantiles(idle_lat, n=20)[-1]
    busy_p95 = statistics.quantiles(busy_lat, n=20)[-1]
    record_property(
        "latency_ms",
        f"idle p50 {idle_p50 * 1e3:.3f} p95 {idle_p95 * 1e3:.3f}; "
        f"busy p50 {busy_p50 * 1e3:.3f} p95 {busy_p95 * 1e3:.3f}",
    )
    print(
        f"\nidle p50 {idle_p50 * 1e3:.3f} ms p95 {idle_p95 * 1e3:.3f} ms; "
        f"1000 members p50 {busy_p50 * 1e3:.3f} ms p95 {busy_p95 * 1e3:.3f} ms; down {down}"
    )
    assert down == (POOLS // 3 + 1) * MEMBERS_PER_POOL  # the slow third (p0, p3, ... p99)
    assert busy_p50 <= 2 * idle_p50 + 0.0005  # generous: half a millisecond of scheduler noise
