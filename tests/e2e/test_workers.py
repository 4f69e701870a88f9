"""dns.workers: 2 as a real process: killed workers are replaced, counters add up, ports guarded."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import urllib.request
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import DATA, ServerProcess, wait_for, write_config

CORE = DATA / "zones" / "core"


def http_get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.read().decode()


def http_port(proc: ServerProcess) -> int:
    for line in proc.log_lines:
        if "HTTP API on http://127.0.0.1:" in line:
            return int(line.rsplit(":", 1)[1])
    raise AssertionError("no HTTP API line in the log")


def workers(port: int) -> list[dict]:
    return json.loads(http_get(port, "/api/v1/status"))["workers"]


def queries_total(port: int) -> float:
    total = 0.0
    for family in text_string_to_metric_families(http_get(port, "/metrics")):
        if family.name == "geodns_queries":
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return total


@pytest.fixture
def server(tmp_path: Path):
    conf = write_config(
        tmp_path, CORE, dns={"listen": ["127.0.0.1:0"], "workers": 2}, log={"level": "info"}
    )
    proc = ServerProcess(["serve", "--config", str(conf)]).start()
    yield proc
    proc.stop()


def ask(addr: tuple[str, int], timeout: float = 3.0) -> dns.message.Message:
    query = dns.message.make_query("static.example.test", "A")
    return dns.query.udp(query, addr[0], port=addr[1], timeout=timeout)


STATIC = {"192.0.2.1", "192.0.2.2"}  # static.example.test A (tests/data/zones/core)
WAITS = (1.0, 2.0, 4.0)  # a resolver's way: a second, then again with doubling patience


def resolve(addr: tuple[str, int]) -> tuple[dns.message.Message | None, int]:
    """Ask as a resolver does: no answer in time, ask again from a new source port (dnspython
    opens a socket per try), waiting twice as long; (the answer or None, tries it took).

    A datagram that reaches a killed worker's slot waits in its socket until the new worker
    reads it: late, if the restart takes a while on a busy machine, and a client that gave
    up on it has its retry, which lands on either slot (RFC 1035 4.2.1: retransmit).
    """
    for tries, wait in enumerate(WAITS, 1):
        try:
            return ask(addr, timeout=wait), tries
        except dns.exception.Timeout:
            continue
    return None, len(WAITS)


def test_two_workers_share_the_port_and_counters_add_up(server: ServerProcess) -> None:
    addr, port = server.bound[0], http_port(server)
    procs = workers(port)
    assert len(procs) == 2 and len({p["pid"] for p in procs}) == 2
    assert all(p["pid"] != server.proc.pid for p in procs)
    for _ in range(200):  # dnspython uses a new source port each time: both workers get some
        assert ask(addr).answer
    per_worker = {p["pid"]: p["queries"] for p in workers(port)}
    assert sum(per_worker.values()) == 200 and all(n > 0 for n in per_worker.values())
    assert queries_total(port) == 200


def test_killed_worker_is_replaced_and_queries_keep_being_answered(server: ServerProcess) -> None:
    addr, port = server.bound[0], http_port(server)
    before = {p["slot"]: p["pid"] for p in workers(port)}
    for _ in range(50):
        ask(addr)
    counted = queries_total(port)
    stop = threading.Event()
    answered, lost, wrong, retried = [0], [], [], [0]

    def load() -> None:
        while not stop.is_set():
            reply, tries = resolve(addr)
            retried[0] += tries - 1
            if reply is None:  # what a resolver would see as a failure: SERVFAIL to its client
                lost.append(f"no answer in {len(WAITS)} tries ({sum(WAITS):g} s)")
            elif {rr.address for rrset in reply.answer for rr in rrset} != STATIC:
                wrong.append(reply.to_text())
            else:
                answered[0] += 1

    clients = [threading.Thread(target=load) for _ in range(4)]
    for c in clients:
        c.start()
    try:
        wait_for(lambda: answered[0] > 50)
        os.kill(before[0], signal.SIGKILL)
        after = wait_for(
            lambda: (
                (w := {p["slot"]: p["pid"] for p in workers(port) if p["serving"]})
                and len(w) == 2
                and w[0] != before[0]
                and w
            ),
            timeout=15,
        )
        mark = answered[0]
        wait_for(lambda: answered[0] > mark + 200)  # both slots answer again
    finally:
        stop.set()
        for c in clients:
            c.join(10)
    # What a resolver sees: every question answered, and right, within its retries (how
    # many it took says how long the slot was without a worker).
    assert not lost and not wrong, (lost[:3], wrong[:1], retried[0])
    assert after[1] == before[1]  # the other worker was left alone
    assert f"worker 0 (pid {before[0]}) died (killed by signal SIGKILL)" in server.log
    assert queries_total(port) >= counted  # a counter never goes back


def test_port_already_taken_fails_loudly(tmp_path: Path) -> None:
    """SO_REUSEPORT must not let a second server quietly take half of another's queries."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        conf = write_config(tmp_path, CORE, dns={"listen": [f"127.0.0.1:{busy}"], "workers": 2})
        proc = ServerProcess(["serve", "--config", str(conf)])
        with pytest.raises(RuntimeError, match=f"UDP 127.0.0.1:{busy}: address already in use"):
            proc.start()
