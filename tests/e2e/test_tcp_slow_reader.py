"""dns.tcp_write_timeout: a TCP client that pipelines queries and never reads the answers is
reset once they stay unread that long (counted); one that reads slowly but drains gets all."""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.servers import DATA, ServerProcess, wait_for, write_config

WRITE_TIMEOUT = 1.0
QUERY = dns.message.make_query("big.example.test.", "TXT")  # a ~1 KB answer
FRAMED = len(QUERY.to_wire()).to_bytes(2, "big") + QUERY.to_wire()


@pytest.fixture
def server(tmp_path: Path):
    conf = write_config(
        tmp_path,
        DATA / "zones" / "core",
        dns={
            "listen": ["127.0.0.1:0"],
            "tcp_write_timeout": f"{WRITE_TIMEOUT}s",
            "tcp_idle_timeout": "60s",  # so only the write deadline can close these
            "tcp_message_timeout": "60s",
        },
    )
    proc = ServerProcess(["serve", "--config", str(conf)]).start()
    yield proc
    assert proc.stop() == 0, proc.log


def metric(proc: ServerProcess, name: str) -> float:
    match = wait_for(lambda: re.search(r"HTTP API on http://([\d.]+):(\d+)", proc.log))
    url = f"http://{match.group(1)}:{match.group(2)}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))


def connect(addr: tuple[str, int], source: str, rcvbuf: int = 0) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:  # fills soon: the server's turn to hold answers
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((source, 0))
    sock.connect(addr)
    return sock


def test_a_client_that_never_reads_is_reset_at_the_write_deadline(server) -> None:
    addr = server.bound[0]
    sock = connect(addr, "127.0.3.1", rcvbuf=4096)
    sock.settimeout(0.2)
    start, reset_after = time.monotonic(), None
    while time.monotonic() - start < 20:  # bounded: the old code never let go
        try:
            sock.send(FRAMED * 64)
        except TimeoutError:
            continue  # the server reads no more of our queries: keep pressing
        except OSError:  # ECONNRESET / EPIPE: the server reset us
            reset_after = time.monotonic() - start
            break
    sock.close()
    assert reset_after is not None, "a client that never reads was never let go"
    assert WRITE_TIMEOUT <= reset_after < WRITE_TIMEOUT + 4, reset_after
    assert metric(server, "geodns_tcp_write_timeouts_total") == 1
    # A newcomer is answered at once meanwhile and after.
    assert dns.query.tcp(QUERY, addr[0], port=addr[1], timeout=3).answer


def test_a_slow_reader_that_drains_gets_every_answer(server) -> None:
    """Reads in bites, a pause between them shorter than the deadline: never reset."""
    addr, n = server.bound[0], 600  # ~600 KB of answers: the server stalls many times
    sock = connect(addr, "127.0.3.2")
    sock.settimeout(10)
    sock.sendall(FRAMED * n)
    got, deadline = b"", time.monotonic() + 60
    while count_messages(got) < n and time.monotonic() < deadline:
        time.sleep(WRITE_TIMEOUT / 4)
        chunk = sock.recv(65536)
        assert chunk, f"closed after {count_messages(got)} of {n} answers"
        got += chunk
    sock.close()
    assert count_messages(got) == n
    assert metric(server, "geodns_tcp_write_timeouts_total") == 0


def count_messages(stream: bytes) -> int:
    pos = count = 0
    while pos + 2 <= len(stream):
        end = pos + 2 + int.from_bytes(stream[pos : pos + 2], "big")
        if end > len(stream):
            break
        pos, count = end, count + 1
    return count
