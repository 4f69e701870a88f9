"""Hot-path counters as plain integers; the metrics collector reads them at scrape time."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable

from geodns import wire as w

COOKIE_RESULTS = ("new", "valid", "invalid", "malformed")  # cookies_total{result}
RRL_ACTIONS = ("slip", "badcookie", "drop", "log_only")  # rrl_actions_total{action}
# RFC 2136 UPDATE outcomes (dns/update.py): geodns_dns_updates_total{result}
UPDATE_RESULTS = (
    *("ok", "unsigned", "badkey", "badsig", "badtime", "formerr", "notauth", "notzone"),
    *("refused", "prerequisite", "busy", "servfail"),
)
BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)
# request/response_size_bytes{transport}: CoreDNS's buckets (the native threads' too: a
# test reads geodns._native.SIZE_BOUNDS and LATENCY_BOUNDS against these)
SIZE_BUCKETS = (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000)
TRANSPORTS = ("udp", "tcp")
QUERY_LOG_LOST = ("ring_full", "dnstap_unconnected")  # query_log_dropped_total{reason}
QTYPE_OTHER = -1  # every query type outside wire.TYPE_TEXT: one `other` label, not 65536

# A transport's query counter: count(zone or None, qtype, rcode), one per transport, so the
# handler counts without knowing which transport it answers on.
Count = Callable[[str | None, int, int], None]


def qtype_label(qtype: int) -> int:
    """The qtype a query is counted under: known types as themselves, the rest as other."""
    return qtype if qtype in w.TYPE_TEXT else QTYPE_OTHER


ENGINE_KEYS = [(t, by) for t in ("udp", "tcp") for by in ("native", "python")]


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
        "engine",
        "fail_open",
        "geoip_native",
        "handover_dropped",
        "internal_errors",
        "queries",
        "query_log",
        "rrl",
        "sample",
        "sizes",
        "tcp",
        "total_seconds",
        "truncated",
        "udp",
        "updates",
    )

    def __init__(self) -> None:
        self.queries: defaultdict[tuple[str, int, int, str], int] = defaultdict(int)
        self.by_pool: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.durations = [0] * (len(BUCKETS) + 1)
        self.total_seconds = 0.0
        # request/response sizes by transport: {("request"|"response", transport): [buckets
        # ..., +Inf, byte sum]}
        self.sizes: dict[tuple[str, str], list[int]] = {
            (kind, t): [0] * (len(SIZE_BUCKETS) + 2)
            for kind in ("request", "response")
            for t in TRANSPORTS
        }
        self.geoip_native = 0  # policy classes the native threads found by address
        # query log records lost: a ring full, dnstap with no reader (native/qlog.py)
        self.query_log: dict[str, int] = dict.fromkeys(QUERY_LOG_LOST, 0)
        self.fail_open = 0
        self.sample = 0
        self.truncated = 0  # UDP replies sent with TC (too big, or an RRL slip); serve/ counts
        self.internal_errors = 0  # handler crashes (answered SERVFAIL), summed over workers
        # queries the native threads could not hand to Python (its queue full): unanswered
        self.handover_dropped = 0
        # where the native engine runs: queries it answered, and those it handed to the slow
        # handler, by transport (geodns_native_engine_queries_total{transport, answered_by})
        self.engine: dict[tuple[str, str], int] = {k: 0 for k in ENGINE_KEYS}
        # DNS COOKIE results and rate limiter actions, each a fixed set of keys (dns/cookies.py,
        # dns/rrl.py): plain int increments, exported as geodns_cookies_total{result} and
        # geodns_rrl_actions_total{action}
        self.cookies: dict[str, int] = dict.fromkeys(COOKIE_RESULTS, 0)
        self.rrl: dict[str, int] = dict.fromkeys(RRL_ACTIONS, 0)
        self.updates: dict[str, int] = dict.fromkeys(UPDATE_RESULTS, 0)
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
        """The COOKIE, RRL, query log and UPDATE counters, for a worker's snapshot."""
        out = {"cookies": dict(self.cookies), "rrl": dict(self.rrl), "log": dict(self.query_log)}
        return {**out, "updates": dict(self.updates)}

    def add_abuse_counts(self, counts: dict[str, dict[str, int]]) -> None:
        """Add a worker's abuse_counts() (the supervisor's totals over workers)."""
        pairs = (("cookies", self.cookies), ("rrl", self.rrl), ("log", self.query_log))
        for name, total in (*pairs, ("updates", self.updates)):
            for key, n in counts.get(name, {}).items():
                if key in total:  # a fixed set of labels, whatever a snapshot holds
                    total[key] += n

    def observe(self, seconds: float) -> None:
        self.durations[bisect_left(BUCKETS, seconds)] += 1
        self.total_seconds += seconds

    def answered(self, transport: str, request: int, response: int, seconds: float) -> None:
        """One answer sent: its time from receive to send and its sizes (every answer, on
        every path: the histograms count what queries_total counts)."""
        self.durations[bisect_left(BUCKETS, seconds)] += 1
        self.total_seconds += seconds
        req = self.sizes[("request", transport)]
        req[bisect_left(SIZE_BUCKETS, request)] += 1
        req[-1] += request
        resp = self.sizes[("response", transport)]
        resp[bisect_left(SIZE_BUCKETS, response)] += 1
        resp[-1] += response

    def add_native(self, seen: dict, observed: dict) -> None:
        """The native threads' histograms (Server.observed(), cumulative) into ours: the
        growth since `seen` (updated)."""
        for name, ours in (("latency", self.durations),):
            old = seen.get(name) or [0] * len(ours)
            for i, (n, o) in enumerate(zip(observed[name], old, strict=True)):
                ours[i] += n - o
        self.total_seconds += (observed["latency_ns"] - seen.get("latency_ns", 0)) / 1e9
        for kind in ("request", "response"):
            ours = self.sizes[(kind, "udp")]
            old = seen.get(kind) or [0] * (len(ours) - 1)
            for i, (n, o) in enumerate(zip(observed[kind], old, strict=True)):
                ours[i] += n - o
            ours[-1] += observed[f"{kind}_bytes"] - seen.get(f"{kind}_bytes", 0)
        self.geoip_native += observed["geo"] - seen.get("geo", 0)
        seen.update(observed)

    def size_buckets(self, kind: str, transport: str) -> tuple[list[tuple[str, int]], int]:
        """A size histogram's cumulative buckets and byte sum, as Prometheus wants them."""
        counts, out, running = self.sizes[(kind, transport)], [], 0
        for bound, n in zip((*SIZE_BUCKETS, None), counts[:-1], strict=True):
            running += n
            out.append(("+Inf" if bound is None else str(bound), running))
        return out, counts[-1]

    def duration_buckets(self) -> tuple[list[tuple[str, int]], float]:
        out, running = [], 0
        for bound, n in zip((*BUCKETS, float("inf")), self.durations, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out, self.total_seconds

    def total(self) -> int:
        return sum(self.queries.values())
