"""How long a one-record change takes to reach answers: SIGHUP to the first new answer.

    python3 bench/reload_latency.py [--reloads 15] [--workers 1] [--repo CHECKOUT]

Starts `geodns serve` (the checkout's, GeoLite2-City from maxminddb-geolite2, the repo's
zones/ plus a small zone `reload.test.` of its own, whose `one` A record is what changes)
on loopback, then RELOADS times: rewrite that record's address, SIGHUP, and ask
`one.reload.test A` over UDP every 2 ms until the new address comes back. Prints each
latency and the p50/max. Bounded: 10 s per reload at most, then the server is stopped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
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
ZONE = """zone: reload.test.
ttl: 60
ns: [ns1.reload.test.]
records:
  ns1: {{A: 192.0.2.53}}
  one: {{A: {address}}}
"""


def start(work: Path, repo: Path, workers: int) -> tuple[subprocess.Popen, int]:
    from geodns.config import demo_geoip_path

    zones = work / "zones"
    shutil.copytree(repo / "zones", zones)
    (zones / "reload.test.yaml").write_text(ZONE.format(address="198.18.0.0"))
    conf = {
        "dns": {"listen": ["127.0.0.1:0"], "workers": workers},
        "http": {"listen": None},
        "geoip": {"city": demo_geoip_path()},
        "zones_dir": str(zones),
        "reload": {"watch": False},
    }
    (work / "geodns.yaml").write_text(yaml.safe_dump(conf))
    proc = subprocess.Popen(
        [sys.executable, "-m", "geodns", "serve", "--config", str(work / "geodns.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        match = re.search(r"listening on 127.0.0.1 port (\d+)", proc.stdout.readline())
        if match:
            os.set_blocking(proc.stdout.fileno(), False)
            return proc, int(match.group(1))
    proc.kill()
    raise SystemExit("server did not start")


def address(sock: socket.socket, wire: bytes) -> str | None:
    sock.send(wire)
    try:
        reply = dns.message.from_wire(sock.recv(4096))
    except (TimeoutError, dns.exception.DNSException):
        return None
    return reply.answer[0][0].address if reply.answer else None


def one_reload(proc: subprocess.Popen, zone: Path, sock: socket.socket, n: int) -> float:
    new = f"198.18.{n // 256}.{n % 256}"
    wire = dns.message.make_query("one.reload.test.", "A").to_wire()
    zone.write_text(ZONE.format(address=new))
    start = time.monotonic()
    proc.send_signal(signal.SIGHUP)
    while time.monotonic() - start < 10:
        if address(sock, wire) == new:
            return time.monotonic() - start
        time.sleep(0.002)
    raise SystemExit(f"reload {n}: the new address never came back")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reloads", type=int, default=15)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repo", type=Path, default=REPO)
    args = parser.parse_args()
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start(Path(tmp), repo, args.workers)
        took = []
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.5)
                sock.connect(("127.0.0.1", port))
                for n in range(1, args.reloads + 1):
                    took.append(one_reload(proc, Path(tmp) / "zones" / "reload.test.yaml", sock, n))
                    time.sleep(0.3)  # let the previous generation go
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    head = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%h"], capture_output=True, text=True
    ).stdout.strip()
    print(f"server {repo} ({head}), workers {args.workers}, {len(took)} reloads")
    print("ms: " + " ".join(f"{t * 1000:.0f}" for t in took))
    print(f"p50 {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
