"""Counters that reach /metrics from the workers: handler crashes, and member state words."""

from __future__ import annotations

import asyncio
import logging
import socket

from geodns.dns.stats import Stats
from geodns.health.board import MemberStatus
from geodns.ops.metrics import member_state
from geodns.serve.channel import Totals, snapshot
from geodns.serve.protocols import DnsServer, TcpLimits


async def test_handler_crash_counted_as_internal_error(caplog) -> None:
    """A handler that raises costs one answer and one count, which a snapshot carries."""

    def broken(data: bytes, host: str, size: int, count) -> bytes:
        raise RuntimeError("boom")

    stats, limits = Stats(), TcpLimits()
    base = snapshot(stats, limits, (0, 0))["internal_errors"]
    async with DnsServer(broken, [("127.0.0.1", 0)], stats, limits) as server:
        host, port = server.bound[0]
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            with caplog.at_level(logging.ERROR):
                for _ in range(3):
                    await loop.sock_sendto(sock, b"\x00" * 12, (host, port))
                deadline = loop.time() + 5
                while snapshot(stats, limits, (0, 0))["internal_errors"] - base < 3:
                    assert loop.time() < deadline, "crashes not counted"
                    await asyncio.sleep(0.01)
    totals = Totals()
    totals.add(snapshot(stats, limits, (0, 0)))
    assert totals.stats.internal_errors - base == 3
    assert "internal error answering UDP query" in caplog.text


def status(state: str, checked: bool = True, drained: bool = False, quorum=None) -> MemberStatus:
    return MemberStatus(state, drained, state == "up", None, "", None, checked, quorum=quorum)


def test_member_state_words() -> None:
    assert member_state(None) == "unchecked"
    assert member_state(status("up", checked=False)) == "unchecked"
    assert member_state(status("up")) == "up"
    assert member_state(status("down")) == "down"
    assert member_state(status("unknown")) == "unknown"
    assert member_state(status("up", drained=True)) == "drained"
    assert member_state(status("up", quorum="down")) == "down"  # the fleet's verdict wins
