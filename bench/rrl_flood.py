"""What a rate-limited flood gets back, and what the limiter costs in memory under random sources.

    # 1,000 identical queries from one /24 (127.0.1.1): replies by kind, bytes in and out
    python3 bench/rrl_flood.py identical --port 53996 [--name nope.geo.example] [-n 1000]
    # queries from N random sources in 127/8 (each its own /24, or /32 with ipv4_prefix: 32):
    # the server's RSS (VmRSS of --pid and its children) before and after
    python3 bench/rrl_flood.py random --port 53996 --pid PID [-n 300000]

Loopback only: every source is a 127.x.y.z address (all of 127/8 is local on Linux), bound
before sending, so the replies come back to this process and the source really is what the
server sees. Sends are paced by the replies (1 ms at most per query), as a real flood on a
real link would be, so the kernel's socket buffers drop nothing the server did not.
"""

from __future__ import annotations

import argparse
import random
import select
import socket
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode


def identical(port: int, name: str, n: int, source: str, qtype: str) -> None:
    wire = dns.message.make_query(name, qtype, use_edns=0).to_wire()
    got: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        for _ in range(n):
            sock.send(wire)
            drain(sock, got, 0.001)
        deadline = time.monotonic() + 1.0
        while len(got) < n and time.monotonic() < deadline:
            drain(sock, got, deadline - time.monotonic())
    kinds = {"full": 0, "tc": 0, "other": 0}
    for raw in got:
        msg = dns.message.from_wire(raw)
        if msg.flags & dns.flags.TC:
            kinds["tc"] += 1
        elif msg.answer or msg.authority:
            kinds["full"] += 1
        else:
            kinds["other"] += 1
    sent, back = n * len(wire), sum(map(len, got))
    print(
        f"{n} x {name} {qtype} from {source}: sent {sent} B, got {len(got)} replies "
        f"({kinds['full']} full, {kinds['tc']} TC, {kinds['other']} other), {back} B back, "
        f"ratio {back / sent:.2f}"
    )


def drain(sock: socket.socket, into: list[bytes], wait: float) -> None:
    if select.select([sock], [], [], max(wait, 0))[0]:
        while True:
            try:
                into.append(sock.recv(4096))
            except BlockingIOError:
                return


def rss_kib(pid: int) -> int:
    """VmRSS of a process and its children (geodns answers in forked workers)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def random_sources(port: int, name: str, n: int, pid: int, seed: int) -> None:
    rng = random.Random(seed)
    wire = dns.message.make_query(name, "A", use_edns=0).to_wire()
    before = rss_kib(pid)
    started = time.monotonic()
    answered = 0
    for i in range(n):
        source = f"127.{rng.randrange(1, 255)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))
            sock.sendto(wire, ("127.0.0.1", port))
            if select.select([sock], [], [], 0.05)[0]:
                answered += 1
        if (i + 1) % 100_000 == 0:
            print(f"  {i + 1} sources: RSS {rss_kib(pid) / 1024:.1f} MiB")
    secs = time.monotonic() - started
    after = rss_kib(pid)
    print(
        f"{n} queries from random 127/8 sources in {secs:.1f} s ({answered} answered): "
        f"RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["identical", "random"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="www.geo.example")
    parser.add_argument("--qtype", default="A")
    parser.add_argument("-n", type=int, default=None)
    parser.add_argument("--source", default="127.0.1.1")
    parser.add_argument("--pid", type=int, help="the server's PID (random mode)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.mode == "identical":
        identical(args.port, args.name, args.n or 1000, args.source, args.qtype)
    else:
        random_sources(args.port, args.name, args.n or 300_000, args.pid, args.seed)


if __name__ == "__main__":
    main()
