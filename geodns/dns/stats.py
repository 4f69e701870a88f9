"""Hot-path counters as plain integers; the metrics collector reads them at scrape time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from geodns import wire as w

COOKIE_RESULTS = ("new", "valid", "invalid", "malformed")  # cookies_total{result}
RRL_ACTIONS = ("slip", "badcookie", "drop", "log_only")  # rrl_actions_total{action}
BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)
QTYPE_OTHER = -1  # every query type outside wire.TYPE_TEXT: one `other` label, not 65536

# A transport's query counter: count(zone or None, qtype, rcode), one per transport, so the
# handler counts without knowing which transport it answers on.
Count = Callable[[str | None, int, int], None]


def qtype_label(qtype: int) -> int:
    """The qtype a query is counted under: known types as themselves, the rest as other."""
    return qtype if qtype in w.TYPE_TEXT else QTYPE_OTHER


class Stats:
    """Query counts by (zone, qtype, rcode, transport) and by (zone, name, pool).

    Counting is a dict increment with no label objects. Labels stay bounded: queries
    outside our zones count as zone "", query types we do not know as QTYPE_OTHER, and
    names are policy owners from zone files, never the query name of a wildcard.
    """

    __slots__ = (
        "by_pool",
        "cookies",
        "durations",
        "fail_open",
        "handover_dropped",
        "internal_errors",
        "queries",
        "rrl",
        "sample",
        "tcp",
        "total_seconds",
        "truncated",
        "udp",
    )

    def __init__(self) -> None:
        self.queries: defaultdict[tuple[str, int, int, str], int] = defaultdict(int)
        self.by_pool: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.durations = [0] * (len(BUCKETS) + 1)
        self.total_seconds = 0.0
        self.fail_open = 0
        self.sample = 0
        self.truncated = 0  # UDP replies sent with TC (too big, or an RRL slip); serve/ counts
        self.internal_errors = 0  # handler crashes (answered SERVFAIL), summed over workers
        # queries the native threads could not hand to Python (its queue full): unanswered
        self.handover_dropped = 0
        # DNS COOKIE results and rate limiter actions, each a fixed set of keys (dns/cookies.py,
        # dns/rrl.py): plain int increments, exported as geodns_cookies_total{result} and
        # geodns_rrl_actions_total{action}
        self.cookies: dict[str, int] = dict.fromkeys(COOKIE_RESULTS, 0)
        self.rrl: dict[str, int] = dict.fromkeys(RRL_ACTIONS, 0)
        self.udp: Count = self.counter("udp")
        self.tcp: Count = self.counter("tcp")

    def counter(self, transport: str) -> Count:
        """The counter a transport hands the handler with each query: a plain function (the
        cheapest call there is) that adds one under this transport's label."""
        stats = self

        def count(zone: str | None, qtype: int, rcode: int) -> None:
            stats.queries[(zone or "", qtype, rcode, transport)] += 1

        return count

    def abuse_counts(self) -> dict[str, dict[str, int]]:
        """The COOKIE and RRL counters, for a worker's snapshot to the supervisor."""
        return {"cookies": dict(self.cookies), "rrl": dict(self.rrl)}

    def add_abuse_counts(self, counts: dict[str, dict[str, int]]) -> None:
        """Add a worker's abuse_counts() (the supervisor's totals over workers)."""
        for name, total in (("cookies", self.cookies), ("rrl", self.rrl)):
            for key, n in counts.get(name, {}).items():
                if key in total:  # a fixed set of labels, whatever a snapshot holds
                    total[key] += n

    def observe(self, seconds: float) -> None:
        i = 0
        while i < len(BUCKETS) and seconds > BUCKETS[i]:
            i += 1
        self.durations[i] += 1
        self.total_seconds += seconds

    def duration_buckets(self) -> tuple[list[tuple[str, int]], float]:
        out, running = [], 0
        for bound, n in zip((*BUCKETS, float("inf")), self.durations, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out, self.total_seconds

    def total(self) -> int:
        return sum(self.queries.values())
