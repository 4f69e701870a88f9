"""Spoofed floods against RRL, geodns (1 and 2 workers) beside Knot, on the same zone.

    python3 bench/rrl_knot.py [-n 1000] [--ports 64] [--repo CHECKOUT] [--rate 10 --slip 2]
    python3 bench/rrl_knot.py --sizes     # reply sizes of single questions, RRL off

Both servers serve `rrl.example.` (below: a wildcard, a delegation with glue) on loopback
with rate limiting at RATE per second and SLIP (geodns `rrl:`, Knot `mod-rrl` as a global
module, both with their default /24 and /56 networks). Each flood sends N queries from one
source address (its own 127.0.N.1, so floods do not share accounts) spread over PORTS
source ports (the kernel hands a flow to one worker by its ports: a spoofer varying them
reaches every worker), paced by the replies (1 ms at most per query, as rrl_flood.py).
Floods: random names under the wildcard, random names below the delegation, random
NXDOMAIN names, random names outside every zone (REFUSED), one name over and over.
Counted per flood: full replies (not truncated), TC replies, bytes sent and received.
Knot is started from this script (knotd from Debian's knot package), from nothing
outside this repository.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.flags
import dns.message
import yaml

REPO = Path(__file__).resolve().parent.parent
ZONE_TEXT = """$ORIGIN rrl.example.
$TTL 300
@       SOA ns1 hostmaster 1 3600 600 604800 60
@       NS  ns1
@       NS  ns2
ns1     A   127.0.0.1
ns2     A   127.0.0.2
static  A   192.0.2.1
*.wild  A   192.0.2.99
sub     NS  ns1.sub
sub     NS  ns2.sub
ns1.sub A   192.0.2.153
ns2.sub A   192.0.2.154
"""
ZONE_YAML = {
    "zone": "rrl.example.",
    "ttl": 300,
    "soa": {
        "mname": "ns1.rrl.example.",
        "rname": "hostmaster.rrl.example.",
        "serial": 1,
        "refresh": 3600,
        "retry": 600,
        "expire": 604800,
        "minimum": 60,
    },
    "ns": ["ns1.rrl.example.", "ns2.rrl.example."],
    "records": {
        "ns1": {"A": "127.0.0.1"},
        "ns2": {"A": "127.0.0.2"},
        "static": {"A": "192.0.2.1"},
        "*.wild": {"A": "192.0.2.99"},
        "sub": {"NS": ["ns1.sub", "ns2.sub"]},
        "ns1.sub": {"A": "192.0.2.153"},
        "ns2.sub": {"A": "192.0.2.154"},
    },
}
FLOODS = {
    "wildcard": lambda r: f"{r}.wild.rrl.example.",
    "delegation": lambda r: f"{r}.sub.rrl.example.",
    "NXDOMAIN": lambda r: f"{r}.rrl.example.",
    "REFUSED": lambda r: f"{r}.example.org.",
    "one name": lambda r: "static.rrl.example.",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    q = dns.message.make_query("static.rrl.example.", "A").to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        try:
            s.sendto(q, ("127.0.0.1", port))
            return bool(dns.message.from_wire(s.recv(4096)).answer)
        except (OSError, dns.exception.DNSException):
            return False


def wait_answering(proc: subprocess.Popen, port: int, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited")
        if answers(port):
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not answer")


def start_knot(work: Path, port: int, rate: int, slip: int) -> subprocess.Popen:
    (work / "rrl.example.zone").write_text(ZONE_TEXT)
    rrl = (
        f"mod-rrl:\n  - id: flood\n    rate-limit: {rate}\n    slip: {slip}\n"
        "template:\n  - id: default\n    global-module: mod-rrl/flood\n"
        if rate
        else ""
    )
    (work / "knot.conf").write_text(
        f"""server:
  listen: 127.0.0.1@{port}
  rundir: {work}
  udp-workers: 2
  tcp-workers: 1
  background-workers: 1
log:
  - target: {work}/knot.log
    any: warning
database:
  storage: {work}
{rrl}zone:
  - domain: rrl.example
    file: {work}/rrl.example.zone
    journal-content: none
    zonefile-sync: -1
"""
    )
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    proc = subprocess.Popen([knotd, "-c", str(work / "knot.conf")], stderr=subprocess.DEVNULL)
    wait_answering(proc, port, "knotd")
    return proc


def start_geodns(work: Path, port: int, repo: Path, workers: int, rate: int, slip: int):
    zones = work / "zones"
    zones.mkdir(exist_ok=True)
    (zones / "rrl.example.yaml").write_text(yaml.safe_dump(ZONE_YAML, sort_keys=False))
    conf = {
        "dns": {"listen": [f"127.0.0.1:{port}"], "workers": workers},
        "http": {"listen": None},
        "zones_dir": str(zones),
        "reload": {"watch": False},
        "rrl": {"responses_per_second": rate, "slip": slip},
    }
    (work / "geodns.yaml").write_text(yaml.safe_dump(conf))
    proc = subprocess.Popen(
        [sys.executable, "-m", "geodns", "serve", "--config", str(work / "geodns.yaml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    wait_answering(proc, port, "geodns")
    return proc


def flood(port: int, source: str, names: list[str], ports: int) -> dict[str, int]:
    """Send each name (A, EDNS 1232) from `ports` sockets in turn; count what comes back."""
    socks = []
    for _ in range(ports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    got: list[bytes] = []
    sent = 0
    for i, name in enumerate(names):
        wire = dns.message.make_query(name, "A", use_edns=0, payload=1232).to_wire()
        socks[i % ports].send(wire)
        sent += len(wire)
        drain(socks, got, 0.001)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        drain(socks, got, deadline - time.monotonic())
    for s in socks:
        s.close()
    tc = sum(1 for raw in got if dns.message.from_wire(raw).flags & dns.flags.TC)
    return {"full": len(got) - tc, "tc": tc, "out": sent, "in": sum(map(len, got))}


def drain(socks: list[socket.socket], into: list[bytes], wait: float) -> None:
    ready = select.select(socks, [], [], max(wait, 0))[0]
    for s in ready:
        while True:
            try:
                into.append(s.recv(4096))
            except BlockingIOError:
                break


def run_floods(port: int, n: int, ports: int, base: int) -> dict[str, dict[str, int]]:
    rnd = random.Random(23)
    out = {}
    for i, (what, make) in enumerate(FLOODS.items()):
        names = [make(f"r{rnd.getrandbits(48):x}") for _ in range(n)]
        out[what] = flood(port, f"127.{base}.{i + 1}.1", names, ports)
        time.sleep(0.2)
    return out


SIZES = [
    ("r1234567890ab.sub.rrl.example.", "A"),  # a referral: NS + glue
    ("rrl.example.", "NS"),  # the apex NS: NS + glue
    ("r1234567890ab.wild.rrl.example.", "A"),
    ("r1234567890ab.rrl.example.", "A"),  # NXDOMAIN
]


def sizes(port: int) -> list[tuple[int, int]]:
    """(query bytes, reply bytes) of each SIZES question (EDNS 1232, no cookie)."""
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for name, qtype in SIZES:
            wire = dns.message.make_query(name, qtype, use_edns=0, payload=1232).to_wire()
            s.sendto(wire, ("127.0.0.1", port))
            out.append((len(wire), len(s.recv(4096))))
    return out


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--ports", type=int, default=64)
    parser.add_argument("--rate", type=int, default=10)
    parser.add_argument("--slip", type=int, default=2)
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--sizes", action="store_true", help="reply sizes, then exit")
    args = parser.parse_args()
    repo = args.repo.resolve()
    if args.sizes:
        return print_sizes(repo)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for base, (label, starter) in enumerate(
            [
                ("Knot", lambda w, p: start_knot(w, p, args.rate, args.slip)),
                ("geodns 1w", lambda w, p: start_geodns(w, p, repo, 1, args.rate, args.slip)),
                ("geodns 2w", lambda w, p: start_geodns(w, p, repo, 2, args.rate, args.slip)),
            ],
            start=10,
        ):
            work = Path(tmp) / re.sub(r"\W", "", label)
            work.mkdir()
            port = free_port()
            proc = starter(work, port)
            try:
                results[label] = run_floods(port, args.n, args.ports, base)
            finally:
                stop(proc)
    head = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%h"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"geodns {repo} ({head}); {args.n} queries a flood over {args.ports} source ports, "
        f"rate {args.rate}, slip {args.slip}"
    )
    labels = list(results)
    print("| flood | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for what in FLOODS:
        cells = []
        for label in labels:
            r = results[label][what]
            cells.append(f"{r['full']} full, {r['tc']} TC; {r['in']:,} B / {r['out']:,} B")
        print(f"| {what} | " + " | ".join(cells) + " |")


def print_sizes(repo: Path) -> None:
    got = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, starter in [
            ("Knot", lambda w, p: start_knot(w, p, 0, 0)),
            ("geodns", lambda w, p: start_geodns(w, p, repo, 1, 0, 2)),
        ]:
            work = Path(tmp) / label
            work.mkdir()
            port = free_port()
            proc = starter(work, port)
            try:
                got[label] = sizes(port)
            finally:
                stop(proc)
    print("| question | geodns: query -> reply | Knot: query -> reply |")
    print("|---|---|---|")
    for (name, qtype), (q, ours), (_, knot) in zip(SIZES, got["geodns"], got["Knot"], strict=True):
        print(f"| `{name} {qtype}` | {q} -> {ours} | {q} -> {knot} |")


if __name__ == "__main__":
    main()
