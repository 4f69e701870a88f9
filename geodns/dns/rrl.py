"""Response rate limiting with BIND's and Knot's semantics, in a table of fixed size.

An account is one client network (the packet's source cut to ipv4_prefix/ipv6_prefix,
never ECS) and one response identity: the question (name and type) for answers, the zone
for NXDOMAIN and for errors, as BIND keys them. Each account earns its kind's rate in
credit per second, at most one second's worth; each response spends one; a response that
finds it below zero is limited, and credit falls no lower than -window x rate, so a flood
must stop for about `window` seconds before it is answered again. With `all_rate`
(rrl.all_per_second, as BIND's all-per-second) each client network also has one account
for every response it gets, whatever it is: a response that finds either account empty
is limited.

Accounts live in arrays of TABLE_SIZE slots picked by the key's hash (a slot holds the
key's full hash, its credit, when it was last touched and its slip count): 28 bytes a
slot, 3.5 MiB whatever spoofed sources send. A new key takes its slot over from whatever
held it, as NSD's table does, so a flood of random sources can only reset accounts to
full credit (answer more), never make the limiter grow or limit a client it never saw.
"""

from __future__ import annotations

import ipaddress
import logging
import mmap
import time
from array import array
from collections.abc import Callable, Iterable

log = logging.getLogger("geodns.rrl")

TABLE_SIZE = 1 << 17  # slots: 131,072 x 28 bytes = 3.5 MiB
ANSWER, NXDOMAIN, ERROR = 0, 1, 2  # kinds of response, each with its own rate
ALL = 3  # the account of every response to a network (all_rate)
OK, SLIP, DROP, LOG_ONLY = 0, 1, 2, 3  # verdicts


def _shared(kind: str, size: int) -> memoryview:
    """`size` zeroed items in a shared anonymous mapping: the supervisor makes the limiter
    before forking its workers (build.shared_limiter), and every worker then spends from
    the same accounts. Updates from two workers at once may lose one (no lock across
    processes here): a count off by one under a race, never a wrong slot or a crash."""
    width = array(kind).itemsize
    return memoryview(mmap.mmap(-1, width * size)).cast(kind)


class RateLimiter:
    """Decides per response whether it goes out (OK), truncated (SLIP), or not at all."""

    __slots__ = (
        "all_rate",
        "clock",
        "credit",
        "exempt",
        "hashes",
        "last_log",
        "limited",
        "log_only",
        "mask",
        "rates",
        "slip",
        "slips",
        "stamps",
        "v4_shift",
        "v6_shift",
        "window",
    )

    def __init__(
        self,
        rates: tuple[int, int, int],
        *,
        window: float = 15.0,
        slip: int = 2,
        ipv4_prefix: int = 24,
        ipv6_prefix: int = 56,
        exempt: Iterable[str] = (),
        log_only: bool = False,
        clock: Callable[[], float] = time.monotonic,
        size: int = TABLE_SIZE,
        all_rate: int = 0,
    ) -> None:
        if size & (size - 1):
            raise ValueError("the table size must be a power of two")
        self.rates = rates  # per kind (ANSWER, NXDOMAIN, ERROR); 0 = that kind unlimited
        self.all_rate = all_rate  # every response to a network; 0 = no such ceiling
        self.window = window
        self.slip = slip
        self.v4_shift, self.v6_shift = 32 - ipv4_prefix, 128 - ipv6_prefix
        self.exempt = tuple(ipaddress.ip_network(n, strict=False) for n in exempt)
        self.log_only = log_only
        self.clock = clock
        self.mask = size - 1
        self.hashes = _shared("q", size)
        self.credit = _shared("d", size)
        self.stamps = _shared("d", size)
        self.slips = _shared("I", size)
        self.limited = 0  # limited responses not yet logged
        self.last_log = float("-inf")

    def table_bytes(self) -> int:
        """What the accounts take, whatever the traffic: the bound operations.md states."""
        arrays = (self.hashes, self.credit, self.stamps, self.slips)
        return sum(a.nbytes for a in arrays)

    def network(self, host: str) -> tuple[int, int]:
        """(family, network number) of a source address at the configured prefix."""
        if ":" not in host:
            a, b, c, d = host.split(".")
            return 4, (int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)) >> self.v4_shift
        addr = ipaddress.IPv6Address(host.partition("%")[0])
        mapped = addr.ipv4_mapped
        if mapped is not None:
            return 4, int(mapped) >> self.v4_shift
        return 6, int(addr) >> self.v6_shift

    def verdict(self, host: str, kind: int, name: bytes) -> int:
        """Spend one response of `kind` for `name` (question or zone) to `host`'s network."""
        rate = self.rates[kind]
        if not rate and not self.all_rate:
            return OK
        net, now = self.network(host), self.clock()
        slot, balance = -1, 0.0
        if rate:
            key = hash((net, kind, name))
            slot, balance = key & self.mask, self._spend(key, rate, now)
        if self.all_rate:
            key = hash((net, ALL))
            left = self._spend(key, self.all_rate, now)
            if slot < 0 or left < balance:  # the emptier account decides (and slips)
                slot, balance = key & self.mask, left
        if balance >= 0.0 or self._exempt(host):
            return OK
        self._note(host, now)
        if self.log_only:
            return LOG_ONLY
        if not self.slip:
            return DROP
        count = self.slips[slot] = (self.slips[slot] + 1) & 0xFFFFFFFF
        return SLIP if count % self.slip == 0 else DROP

    def _spend(self, key: int, rate: float, now: float) -> float:
        """One response from the account of `key`: its balance after (below 0: limited)."""
        slot = key & self.mask
        credit = self.credit
        if self.hashes[slot] != key:  # a new account (or one that took the slot over)
            self.hashes[slot] = key
            balance = float(rate)
            self.slips[slot] = 0
        else:
            balance = credit[slot] + (now - self.stamps[slot]) * rate
            if balance > rate:
                balance = rate
        balance -= 1.0
        floor = -self.window * rate
        credit[slot] = balance if balance > floor else floor
        self.stamps[slot] = now
        return balance

    def _exempt(self, host: str) -> bool:
        """Looked up only for a response about to be limited: exempt networks cost nothing
        while everyone is within their rate."""
        if not self.exempt:
            return False
        addr = ipaddress.ip_address(host.partition("%")[0])
        return any(addr in net for net in self.exempt)

    def _note(self, host: str, now: float) -> None:
        """One log line a second at most, with how many were limited since the last."""
        self.limited += 1
        if now - self.last_log < 1.0:
            return
        mode = "would limit (log_only)" if self.log_only else "limited"
        log.warning("rrl: %s %d responses; the latest to %s", mode, self.limited, host)
        self.limited = 0
        self.last_log = now
