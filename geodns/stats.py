"""Hot-path counters as plain integers; a Prometheus collector reads them later."""

from __future__ import annotations

from collections import defaultdict

TRANSPORTS = ("udp", "tcp")


class Stats:
    """Query counts by (zone, qtype, rcode, transport) and by (zone, name, pool).

    Counting is a dict increment with no label objects: the metrics layer turns these into
    Prometheus samples only when scraped. Labels stay bounded: unknown zones count as
    zone "" and the qtype is a number (the collector names it).
    """

    __slots__ = ("by_pool", "queries")

    def __init__(self) -> None:
        self.queries: defaultdict[tuple[str, int, int, str], int] = defaultdict(int)
        self.by_pool: defaultdict[tuple[str, str, str], int] = defaultdict(int)

    def count(self, zone: str | None, qtype: int, rcode: int, tcp: bool) -> None:
        self.queries[(zone or "", qtype, rcode, TRANSPORTS[tcp])] += 1

    def total(self) -> int:
        return sum(self.queries.values())
