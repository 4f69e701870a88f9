"""The native engine's answer for one message from Python's side (TCP, and any transport
that holds a message): geodns._native Table.answer on the current decisions, counted as
the handler counts; what it does not answer goes to the handler (the reference)."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any

from geodns.native import table as native


def packed(host: str) -> bytes:
    """A source address as the C reads it: 4 bytes for IPv4 (IPv4-mapped IPv6 too)."""
    ip = ipaddress.ip_address(host.partition("%")[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.packed


class NativeAnswer:
    """Answers messages natively where the table and decisions hold them, else through
    `fallback` (Handler.handle); `decisions` is swapped whole on health changes."""

    def __init__(self, built: native.Built, fallback: Callable[..., bytes | None], stats: Any):
        self.built, self.fallback, self.stats = built, fallback, stats
        self.decisions: Any = None
        self.jar: Any = None  # a gd_cookies capsule (native/shared.py), or None
        self.logged: Any = None  # the query log line of a native answer (native/qlog.py)
        self._hosts: dict[str, bytes] = {}
        self.clock: Callable[[], float] = time.time  # the wall clock server cookies are made at

    def _source(self, host: str) -> bytes:
        found = self._hosts.get(host)
        if found is None:
            if len(self._hosts) >= 4096:
                self._hosts.clear()
            found = self._hosts[host] = packed(host)
        return found

    def handle(
        self, data: bytes, host: str, max_size: int = 512, count: Any = None
    ) -> bytes | None:
        """Handler.handle's contract: the reply for `data` from `host`, or None."""
        built = self.built
        if count is None:
            count = self.stats.udp
        started = time.perf_counter() if self.logged is not None else 0.0
        got = built.table.answer(
            data, self._source(host), self.decisions, self.jar, int(self.clock()), None, 0.0,
            None, max_size,
        )  # fmt: skip
        tcp = count is self.stats.tcp  # UDP's are counted by its threads (native/udp.py)
        if got is None:
            if tcp:
                self.stats.engine[("tcp", "python")] += 1
            return self.fallback(data, host, max_size, count)
        if tcp:
            self.stats.engine[("tcp", "native")] += 1
        reply, (zone, qtype, rcode), pool, _action = got
        count(built.zones[zone], qtype, rcode)  # qtype: -1 for "other", as stats counts
        by_pool = built.pool_key(pool >> 8, pool & 0xFF) if pool >= 0 else None
        if by_pool is not None:
            self.stats.by_pool[by_pool] += 1
        if self.logged is not None:  # log.queries: the line the handler would have written
            elapsed = time.perf_counter() - started
            pool_name = by_pool[2] if by_pool else None
            self.logged(data, reply, host, max_size > 512, built.zones[zone], pool_name, elapsed)
        return reply
