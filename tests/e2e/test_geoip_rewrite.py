"""The watched GeoIP file truncated and rewritten in place, cp-style, under ECS queries from new
client networks: the server lives, refuses the empty and half-written file, loads the whole
one and answers from it at once (dns.workers from GEODNS_TEST_WORKERS: run with 1 and 2)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.data.make_mmdb import NETWORKS, write_city
from tests.servers import DATA, ServerProcess, wait_for, write_config

# Who answers matters here: `make test` runs these again with two workers and on the
# Python fast path (-m workers, -m fast_path).
pytestmark = [pytest.mark.workers, pytest.mark.fast_path]

CITY = DATA / "city-test.mmdb"
NA, EU = "192.0.2.20", "192.0.2.10"  # geo.test's pools for continent NA and EU
MOVED = {**NETWORKS, "12.0.0.0/16": ("EU", "IE", "L", 53.35, -6.26)}  # was NA, US-CA


def www(addr: tuple[str, int], subnet: str, timeout: float = 3.0) -> dns.message.Message:
    query = dns.message.make_query("www.geo.test", "A")
    query.use_edns(0, options=[dns.edns.ECSOption.from_text(subnet)])
    return dns.query.udp(query, addr[0], port=addr[1], timeout=timeout)


def answer_for(addr: tuple[str, int], subnet: str) -> str:
    return www(addr, subnet).answer[0][0].address


class NewNetworks(threading.Thread):
    """Asks from a client network never seen before, query after query, until stopped."""

    def __init__(self, addr: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.addr, self.stop = addr, threading.Event()
        self.answered, self.lost, self.bad = 0, [], []

    def run(self) -> None:
        x = 0x5EED42
        while not self.stop.is_set():
            x = (x * 1103515245 + 12345) & 0xFFFFFF  # every /24 once, spread over the space
            subnet = f"{1 + (x >> 16) % 223}.{(x >> 8) & 0xFF}.{x & 0xFF}.0/24"
            try:
                reply = www(self.addr, subnet)
            except Exception as exc:  # a query that never got its answer
                self.lost.append(f"{subnet}: {exc!r}")
                continue
            if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
                self.bad.append(f"{subnet}: {reply}")
            self.answered += 1


def cp_in_steps(path: Path, content: bytes, server: ServerProcess) -> None:
    """`cp` over the watched file, pausing where a slow copy would be seen: empty, then half
    written. Each pause lasts until the server has looked at it and refused it."""
    refused = server.log.count("GeoIP reload: refused")
    with open(path, "wb", buffering=0) as f:  # O_TRUNC: same inode, cut to 0 under the readers
        wait_for(lambda: server.log.count("GeoIP reload: refused") == refused + 1)
        half = len(content) // 2
        for start in range(0, half, 512):
            f.write(content[start : min(start + 512, half)])
        wait_for(lambda: server.log.count("GeoIP reload: refused") == refused + 2)
        for start in range(half, len(content), 512):
            f.write(content[start : start + 512])


def rewrite_and_see(
    city: Path, content: bytes, server: ServerProcess, loads: int, pool: str, asking: NewNetworks
) -> None:
    """One rewrite: refused twice, then loaded, then answered from at once."""
    addr = server.bound[0]
    cp_in_steps(city, content, server)
    wait_for(lambda: server.log.count(f"GeoIP reload: {city} loaded") == loads)
    wait_for(lambda: answer_for(addr, "12.0.0.0/24") == pool, timeout=5)
    mark = asking.answered
    wait_for(lambda: asking.answered > mark + 20)  # new networks answered too


def test_rewritten_in_place_three_times_under_new_networks(tmp_path: Path) -> None:
    city = tmp_path / "city.mmdb"
    shutil.copyfile(CITY, city)
    os.utime(city, ns=(0, 10**18))  # the first rewrite shows even within one clock tick
    write_city(tmp_path / "moved.mmdb", MOVED)
    moved, original = (tmp_path / "moved.mmdb").read_bytes(), CITY.read_bytes()
    conf = write_config(
        tmp_path,
        DATA / "zones" / "geo",
        dns={"listen": ["127.0.0.1:0"]},
        geoip={"city": str(city)},
        reload={"watch": True, "poll_interval": "100ms"},
    )
    server = ServerProcess(["serve", "--config", str(conf)]).start()
    try:
        addr = server.bound[0]
        assert answer_for(addr, "12.0.0.0/24") == NA
        asking = NewNetworks(addr)
        asking.start()
        try:
            for n, (content, pool) in enumerate([(moved, EU), (original, NA), (moved, EU)]):
                rewrite_and_see(city, content, server, n + 1, pool, asking)
        finally:
            asking.stop.set()
            asking.join(10)
        assert server.proc.poll() is None  # the same supervisor, alive
        assert "died" not in server.log, server.log
        assert not asking.lost and not asking.bad, (asking.lost[:3], asking.bad[:3])
        assert server.log.count("empty file; still serving the database before") == 3
        assert server.log.count("not a valid GeoIP database") == 3
    finally:
        assert server.stop() == 0
