"""One set of RRL accounts per server: a spoofed flood from one address over 64 source ports
(the kernel spreads them over the workers) gets the rate once with 2 workers, not twice;
random names under a wildcard and below a delegation included (both fast paths)."""

from __future__ import annotations

import random
import select
import socket
from pathlib import Path

import dns.flags
import dns.message
import pytest

from tests.servers import DATA, ServerProcess, write_config

RATE, N, PORTS = 5, 300, 64


def flood(addr: tuple[str, int], names: list[str], source: str) -> int:
    """Full (not truncated) replies to `names` sent round-robin from PORTS sockets."""
    socks = []
    for _ in range(PORTS):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source, 0))
        s.connect(addr)
        s.setblocking(False)
        socks.append(s)
    got = []
    for i, name in enumerate(names):
        socks[i % PORTS].send(dns.message.make_query(name, "A").to_wire())
        for s in select.select(socks, [], [], 0.002)[0]:
            got.append(s.recv(4096))
    for s in select.select(socks, [], [], 1.0)[0]:  # the last replies
        while True:
            try:
                got.append(s.recv(4096))
            except BlockingIOError:
                break
    for s in socks:
        s.close()
    return sum(1 for raw in got if not dns.message.from_wire(raw).flags & dns.flags.TC)


@pytest.mark.parametrize("fast_path", ["native", "python"])
def test_two_workers_share_the_accounts(tmp_path: Path, fast_path: str) -> None:
    conf = write_config(
        tmp_path,
        DATA / "zones" / "core",
        dns={"listen": ["127.0.0.1:0"], "workers": 2, "fast_path": fast_path},
        rrl={"responses_per_second": RATE, "slip": 2, "window": "15s"},
    )
    server = ServerProcess(["serve", "--config", str(conf)]).start()
    rnd = random.Random(5)
    try:
        addr = server.bound[0]
        floods = {
            "one name": ["static.example.test."] * N,
            "wildcard": [f"r{rnd.getrandbits(40):x}.edge.example.test." for _ in range(N)],
            "delegation": [f"r{rnd.getrandbits(40):x}.sub.example.test." for _ in range(N)],
        }
        for i, (what, names) in enumerate(floods.items()):
            full = flood(addr, names, f"127.0.{40 + i}.1")
            # One second's credit, plus what a second of flooding earns back at most.
            assert RATE <= full < 2 * RATE, (what, full)
    finally:
        assert server.stop() == 0, server.log


def test_all_per_second_holds_over_every_name_on_the_native_path(tmp_path: Path) -> None:
    conf = write_config(
        tmp_path,
        DATA / "zones" / "core",
        dns={"listen": ["127.0.0.1:0"], "workers": 2, "fast_path": "native"},
        rrl={"responses_per_second": 100, "all_per_second": RATE, "slip": 2},
    )
    server = ServerProcess(["serve", "--config", str(conf)]).start()
    try:
        assert "UDP fast path: native" in server.log
        names = ["static.example.test.", "mail.example.test.", "ns1.example.test."] * 100
        full = flood(server.bound[0], names, "127.0.50.1")
        assert RATE <= full < 2 * RATE, full  # each name far within 100/s, the network not
    finally:
        assert server.stop() == 0, server.log
