"""Rate limiting and DNS cookies over real sockets (the suite's worker count: 1, or 2 under
GEODNS_TEST_WORKERS=2): a burst from one /24 is limited and slipped while another /24 and
TCP are answered, a valid server cookie is never limited, and kdig sees our cookie."""

from __future__ import annotations

import re
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.servers import DATA, WORKERS, ServerThread, write_config

# Who answers matters here: `make test` runs these again with two workers and on the
# Python fast path (-m workers, -m fast_path).
pytestmark = [pytest.mark.workers, pytest.mark.fast_path]

NAME = "www.geo.test."
FLOOD = "127.0.1.1"  # the flooding /24 (127.0.1.0/24)
OTHER = "127.0.2.1"  # another /24
CLIENT = bytes.fromhex("5ca1ab1e0ddba11c")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("abuse")
    conf = write_config(
        tmp,
        DATA / "zones" / "geo",
        dns={"listen": ["127.0.0.1:0"]},
        rrl={"responses_per_second": 10, "slip": 2},
    )
    running = ServerThread(conf).start()
    yield running
    running.stop()


def burst(
    server: ServerThread, source: str, n: int, options: list | None = None
) -> list[dns.message.Message]:
    """n identical UDP queries from one socket on `source`, paced by the replies (each send
    waits up to 1 ms for what came back), then every reply that arrives within 1 s."""
    query = dns.message.make_query(NAME, "A", use_edns=0, options=options or [])
    wire = query.to_wire()
    replies: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.connect(server.where(4))
        sock.setblocking(False)
        for _ in range(n):
            sock.send(wire)
            _drain(sock, replies, 0.001)
        deadline = time.monotonic() + 1.0
        while len(replies) < n and time.monotonic() < deadline:
            _drain(sock, replies, deadline - time.monotonic())
    return [dns.message.from_wire(r) for r in replies]


def _drain(sock: socket.socket, into: list[bytes], wait: float) -> None:
    if select.select([sock], [], [], max(wait, 0))[0]:
        while True:
            try:
                into.append(sock.recv(4096))
            except BlockingIOError:
                return


def full(reply: dns.message.Message) -> bool:
    return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)


def truncated(reply: dns.message.Message) -> bool:
    return bool(reply.flags & dns.flags.TC) and not reply.answer


def test_a_burst_from_one_24_is_limited_the_rest_answered(server: ServerThread) -> None:
    start = time.monotonic()
    replies = burst(server, FLOOD, 1000)
    assert time.monotonic() - start < 3.0
    answered = sum(map(full, replies))
    slipped = sum(map(truncated, replies))
    assert answered + slipped == len(replies)
    assert answered <= 60, answered
    assert 0.35 * (1000 - answered) <= slipped <= 0.65 * (1000 - answered), slipped
    # meanwhile (the flood's account stays empty for `window`): another /24 over UDP and
    # the same /24 over TCP are answered in full
    other = burst(server, OTHER, 5)
    assert len(other) == 5 and all(map(full, other))
    tcp = dns.message.make_query(NAME, "A")
    where = server.where(4)
    for _ in range(20):
        reply = dns.query.tcp(tcp, where[0], port=where[1], timeout=3, source=FLOOD)
        assert full(reply)
    # every worker keeps its own accounts and the kernel spreads sockets over workers by
    # their ports: a new socket may reach a worker that has not seen the flood, which then
    # answers one second's worth (10) before limiting too
    later = sum(map(full, burst(server, FLOOD, 50)))
    assert later <= 12 * (WORKERS - 1), f"still limited over UDP: {later} of 50 answered"


def test_a_valid_server_cookie_is_never_limited(server: ServerThread) -> None:
    source = "127.0.3.1"
    ask = dns.message.make_query(
        NAME, "A", use_edns=0, options=[dns.edns.CookieOption(CLIENT, b"")]
    )
    host, port = server.where(4)
    first = dns.query.tcp(ask, host, port=port, timeout=3, source=source)  # TCP: not limited
    cookie = next(o for o in first.options if o.otype == dns.edns.OptionType.COOKIE)
    assert cookie.client == CLIENT and len(cookie.server) == 16
    valid = [dns.edns.CookieOption(CLIENT, cookie.server)]
    replies = burst(server, source, 200, valid)
    assert len(replies) == 200 and all(map(full, replies))
    limited = burst(server, source, 200, [dns.edns.CookieOption(CLIENT, b"")])  # no server cookie
    assert sum(map(full, limited)) <= 60
    bad = [r for r in limited if r.rcode() == dns.rcode.BADCOOKIE]
    assert bad, "a limited client with a cookie gets BADCOOKIE and a fresh cookie (slip)"
    fresh = next(o for o in bad[0].options if o.otype == dns.edns.OptionType.COOKIE)
    again = burst(server, source, 50, [dns.edns.CookieOption(CLIENT, fresh.server)])
    assert len(again) == 50 and all(map(full, again))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """Cookies on (the default), no rate limiting."""
    tmp = tmp_path_factory.mktemp("cookies")
    conf = write_config(tmp, DATA / "zones" / "geo", dns={"listen": ["127.0.0.1:0"]})
    running = ServerThread(conf).start()
    yield running
    running.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_cookies_over_the_wire(plain: ServerThread, transport: str) -> None:
    send = dns.query.udp if transport == "udp" else dns.query.tcp

    def ask(body: bytes, name: str = NAME) -> dns.message.Message:
        option = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, body)
        query = dns.message.make_query(name, "A", use_edns=0, options=[option])
        host, port = plain.where(4)
        return send(query, host, port=port, timeout=3)

    def cookie(reply: dns.message.Message) -> bytes:
        found = [o for o in reply.options if o.otype == dns.edns.OptionType.COOKIE]
        assert len(found) == 1
        return found[0].client + found[0].server

    for name in (NAME, "nothere.geo.test."):
        ours = cookie(ask(CLIENT, name))
        assert 16 <= len(ours) <= 40 and ours[:8] == CLIENT
        assert cookie(ask(ours, name)) == ours, "a valid cookie: the same one back"
        assert cookie(ask(CLIENT + bytes(16), name)) == ours, "a bad one: a fresh one"
        assert ask(b"12345", name).rcode() == dns.rcode.FORMERR


@pytest.mark.skipif(shutil.which("kdig") is None, reason="kdig (knot-dnsutils) not installed")
def test_kdig_sees_the_server_cookie(plain: ServerThread) -> None:
    host, port = plain.where(4)
    cmd = ["kdig", f"@{host}", "-p", str(port), "+cookie", "+timeout=3", "+retry=0", NAME, "A"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=15, check=True).stdout
    found = re.search(r"^;; COOKIE: ([0-9A-Fa-f]{16})([0-9A-Fa-f]{16,64})(.*)$", out, re.M)
    assert found, out
    assert len(found.group(2)) == 32  # our 16-byte RFC 9018 server cookie
    assert found.group(2)[:8] == "01000000"  # version 1, reserved
    assert "(bad)" not in found.group(3)
    assert "status: NOERROR" in out
