"""Counters that reach /metrics from the workers: handler crashes, and member state words."""

from __future__ import annotations

import asyncio
import logging

import dns.message
import dns.query
import dns.rcode

from geodns.dns.stats import Stats
from geodns.health.board import MemberStatus
from geodns.ops.metrics import member_state
from geodns.serve.channel import Totals, snapshot
from geodns.serve.protocols import DnsServer, TcpLimits


async def test_handler_crash_answered_servfail_and_counted(caplog) -> None:
    """A handler that raises costs a SERVFAIL (over UDP and TCP: the client moves on at
    once), one internal error and one SERVFAIL query count, which a snapshot carries."""

    def broken(data: bytes, host: str, size: int, count) -> bytes:
        raise RuntimeError("boom")

    stats, limits = Stats(), TcpLimits()
    base = snapshot(stats, limits, (0, 0))["internal_errors"]
    query = dns.message.make_query("www.example.test", "A")
    async with DnsServer(broken, [("127.0.0.1", 0)], stats, limits) as server:
        host, port = server.bound[0]
        with caplog.at_level(logging.ERROR):
            udp = await asyncio.to_thread(dns.query.udp, query, host, 3, port)
            tcp = await asyncio.to_thread(dns.query.tcp, query, host, 3, port)
    for reply in (udp, tcp):
        assert reply.rcode() == dns.rcode.SERVFAIL and reply.id == query.id
        assert reply.question == query.question and not reply.answer
    assert snapshot(stats, limits, (0, 0))["internal_errors"] - base == 2
    assert stats.queries[("", 0, 2, "udp")] == 1 and stats.queries[("", 0, 2, "tcp")] == 1
    totals = Totals()
    totals.add(snapshot(stats, limits, (0, 0)))
    assert totals.stats.internal_errors - base == 2
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
    assert member_state(status("up", checked=False, drained=True)) == "drained"
    assert member_state(status("up", quorum="down")) == "down"  # the fleet's verdict wins
