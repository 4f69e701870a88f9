"""Hot-path counters as plain integers; the metrics collector reads them at scrape time."""

from __future__ import annotations

from collections import defaultdict

TRANSPORTS = ("udp", "tcp")
BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)


class Stats:
    """Query counts by (zone, qtype, rcode, transport) and by (zone, name, pool).

    Counting is a dict increment with no label objects. Labels stay bounded: queries
    outside our zones count as zone "", and names are policy owners from zone files,
    never the query name of a wildcard.
    """

    __slots__ = ("by_pool", "durations", "fail_open", "queries", "sample", "total_seconds")

    def __init__(self) -> None:
        self.queries: defaultdict[tuple[str, int, int, str], int] = defaultdict(int)
        self.by_pool: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.durations = [0] * (len(BUCKETS) + 1)
        self.total_seconds = 0.0
        self.fail_open = 0
        self.sample = 0

    def count(self, zone: str | None, qtype: int, rcode: int, tcp: bool) -> None:
        self.queries[(zone or "", qtype, rcode, TRANSPORTS[tcp])] += 1

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
