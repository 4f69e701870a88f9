"""Slow-reading DNS-over-TCP clients: the kernel memory they pin and what a newcomer waits.

    python3 bench/tcp_slow_readers.py [--clients 200] [--hold 20] [--set dns.key=value ...]
        [--repo CHECKOUT] [--client-buffers BYTES]

Starts `geodns serve` (this checkout, one worker, tests/data/zones/core) on a loopback port,
then CLIENTS connections, each from its own source address (127.0.1.N: the per-source cap
does not stop a spread attacker), pipeline `big.example.test TXT` (a 1 KB answer) as fast as
the server reads and never read a byte back; one the server closes reconnects at once.
Every 0.5 s for HOLD seconds: /proc/net/sockstat's TCP `mem` (pages, every TCP socket of
the machine: both ends on loopback), the server side's own socket memory (`ss -tm`: rmem +
wmem queued of the sockets on its port), the server's RSS, and a new client's wait (a
fresh source, connect + one query + its answer; 5 s timeout). Bounded: the clients stop
after HOLD seconds and the server is stopped.

--repo runs the server from another checkout (a "before" worktree; its extension built in
place). --client-buffers gives the attackers fixed SO_SNDBUF/SO_RCVBUF: on loopback their
own buffers (queries we have not read yet) count in sockstat too, and on a real network
they would be on the attacker's machine, not ours.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import yaml

REPO = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")


def start_server(work: Path, settings: list[str], repo: Path) -> tuple[subprocess.Popen, int]:
    conf = {
        "dns": {"listen": ["127.0.0.1:0"], "workers": 1},
        "http": {"listen": None},
        "zones_dir": str(repo / "tests" / "data" / "zones" / "core"),
        "reload": {"watch": False},
    }
    for item in settings:  # dns.tcp_write_timeout=2s
        key, value = item.split("=", 1)
        section, name = key.split(".")
        conf.setdefault(section, {})[name] = yaml.safe_load(value)
    path = work / "geodns.yaml"
    path.write_text(yaml.safe_dump(conf))
    proc = subprocess.Popen(
        [sys.executable, "-m", "geodns", "serve", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"listening on 127.0.0.1 port (\d+)", line)
        if match:
            os.set_blocking(proc.stdout.fileno(), False)
            return proc, int(match.group(1))
    proc.kill()
    raise SystemExit("server did not start")


def tcp_mem_bytes() -> int:
    text = Path("/proc/net/sockstat").read_text()
    return int(re.search(r"^TCP:.* mem (\d+)", text, re.M).group(1)) * PAGE


def server_side_bytes(port: int) -> int:
    """rmem_alloc + wmem_queued of the server's sockets on `port` (ss -tm's skmem r and w)."""
    out = subprocess.run(
        ["ss", "-tmnH", "state", "all", f"sport = :{port}"], capture_output=True, text=True
    ).stdout
    return sum(int(r) + int(w) for r, w in re.findall(r"skmem:\(r(\d+),.*?,w(\d+),", out))


def rss_bytes(pid: int) -> int:
    """VmRSS of the supervisor and its children (the worker)."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024
    return total


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def newcomer_wait(port: int, wire: bytes) -> float:
    """Seconds from connect to a whole answer for a fresh client; 5.0 = no answer in time."""
    start = time.monotonic()
    try:
        with socket.socket() as sock:
            sock.settimeout(5)
            sock.bind(("127.0.2.1", 0))
            sock.connect(("127.0.0.1", port))
            sock.sendall(len(wire).to_bytes(2, "big") + wire)
            got = b""
            while len(got) < 2 or len(got) < 2 + int.from_bytes(got[:2], "big"):
                chunk = sock.recv(65536)
                if not chunk:
                    return 5.0
                got += chunk
    except OSError:
        return 5.0
    return time.monotonic() - start


class Attackers:
    """CLIENTS non-reading pipeliners; one that is closed on reconnects at once."""

    def __init__(self, port: int, clients: int, blob: bytes, buffers: int) -> None:
        self.port, self.blob, self.buffers = port, blob, buffers
        self.socks: dict[int, tuple[socket.socket, int]] = {}
        self.closed = 0
        for i in range(clients):
            self._open(i)

    def _open(self, i: int) -> None:
        sock = socket.socket()
        if self.buffers:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.buffers)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.buffers)
        sock.bind((f"127.0.1.{i + 1}", 0))
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", self.port))
        self.socks[i] = (sock, 0)

    def pump(self, budget: float) -> None:
        """Send what the kernel takes, for about `budget` seconds."""
        writers = [s for s, _ in self.socks.values()]
        _, ready, _ = select.select([], writers, [], budget)
        ready_set = set(ready)
        for i, (sock, sent) in list(self.socks.items()):
            if sock not in ready_set:
                continue
            try:
                n = sock.send(self.blob[sent % len(self.blob) :])
                self.socks[i] = (sock, sent + n)
            except BlockingIOError:
                pass
            except OSError:  # reset or refused: the server let go of us
                sock.close()
                self.closed += 1
                self._open(i)

    def close(self) -> None:
        for sock, _ in self.socks.values():
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--set", action="append", default=[], help="config: dns.key=value")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to serve from")
    parser.add_argument("--client-buffers", type=int, default=0, help="attackers' SO_*BUF")
    args = parser.parse_args()
    wire = dns.message.make_query("big.example.test.", "TXT").to_wire()
    framed = len(wire).to_bytes(2, "big") + wire
    blob = framed * 4096
    base = tcp_mem_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_server(Path(tmp), args.set, args.repo.resolve())
        try:
            idle_rss = rss_bytes(proc.pid)
            idle_wait = statistics.median(newcomer_wait(port, wire) for _ in range(5))
            attack = Attackers(port, args.clients, blob, args.client_buffers)
            mem, side, rss, waits = [], [], [], []
            end = time.monotonic() + args.hold
            next_sample = time.monotonic()
            while time.monotonic() < end:
                attack.pump(0.05)
                if time.monotonic() >= next_sample:
                    mem.append(tcp_mem_bytes() - base)
                    side.append(server_side_bytes(port))
                    rss.append(rss_bytes(proc.pid))
                    waits.append(newcomer_wait(port, wire))
                    next_sample = time.monotonic() + 0.5
            attack.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    mb = 1 << 20
    said = " ".join(args.set) or "(defaults)"
    head = subprocess.run(
        ["git", "-C", str(args.repo), "log", "-1", "--format=%h"], text=True, capture_output=True
    ).stdout.strip()
    print(
        f"server {args.repo} ({head}), settings: {said}; {args.clients} clients, "
        f"{args.hold:g} s, attackers' buffers {args.client_buffers or 'autotuned'}"
    )
    print(
        f"sockstat TCP mem over baseline: peak {max(mem) / mb:.1f} MB, "
        f"median {statistics.median(mem) / mb:.1f} MB"
    )
    print(
        f"server side (ss r+w): peak {max(side) / mb:.1f} MB, "
        f"median {statistics.median(side) / mb:.1f} MB; server RSS {idle_rss / mb:.0f} MB idle, "
        f"peak {max(rss) / mb:.0f} MB"
    )
    print(
        f"newcomer wait: idle {idle_wait * 1000:.1f} ms; under attack median "
        f"{statistics.median(waits) * 1000:.1f} ms, max {max(waits) * 1000:.1f} ms "
        f"({sum(w >= 5.0 for w in waits)} of {len(waits)} unanswered in 5 s)"
    )
    print(f"attacker connections closed by the server: {attack.closed}")


if __name__ == "__main__":
    main()
