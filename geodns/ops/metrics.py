"""Every metric, `geodns_` prefix: hot-path ints turned into samples only when scraped."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from geodns import __version__
from geodns import wire as w
from geodns.dns.stats import QTYPE_OTHER
from geodns.ops.sources import Counters, Sources


class GeoDNSCollector:
    """Reads the app's counters at scrape time; labels are bounded (never qname or client)."""

    def __init__(self, app: Sources) -> None:
        self.app = app
        self.counters: Counters | None = None  # app.counters(), awaited by each scrape

    def collect(self) -> Iterator[Metric]:
        app = self.app
        counters = self.counters
        if counters is None:  # nothing scraped yet: no counters to show
            return
        yield from self._dns(counters.stats)
        yield from self._health(app, counters.stats)
        reloads = CounterMetricFamily("geodns_zone_reloads", "Zone reloads", labels=["result"])
        reloads.add_metric(["ok"], app.reloads.ok)
        reloads.add_metric(["error"], app.reloads.error)
        yield reloads
        removals = CounterMetricFamily("geodns_zone_removals", "Zones dropped by a reload")
        removals.add_metric([], app.reloads.removed)
        yield removals
        serial = GaugeMetricFamily("geodns_zone_serial", "SOA serial per zone", labels=["zone"])
        for zone, value in app.table.serials().items():
            serial.add_metric([zone], value)
        yield serial
        hits = CounterMetricFamily("geodns_geoip_cache_hits", "GeoIP cache hits")
        hits.add_metric([], counters.geoip_hits)
        yield hits
        misses = CounterMetricFamily("geodns_geoip_cache_misses", "GeoIP lookups not cached")
        misses.add_metric([], counters.geoip_misses)
        yield misses
        tcp = GaugeMetricFamily("geodns_tcp_connections", "Open TCP connections")
        tcp.add_metric([], counters.tcp_open)
        yield tcp
        build = GaugeMetricFamily("geodns_build_info", "Version", labels=["version", "python"])
        build.add_metric([__version__, platform.python_version()], 1)
        yield build
        stamp = GaugeMetricFamily(
            "geodns_geoip_database_build_timestamp_seconds", "Build time of the GeoIP database"
        )
        stamp.add_metric([], app.locator.build_epoch)
        yield stamp

    @staticmethod
    def _dns(stats: Any) -> Iterator[Metric]:
        queries = CounterMetricFamily(
            "geodns_queries", "DNS queries answered", labels=["zone", "qtype", "rcode", "transport"]
        )
        for (zone, qtype, rcode, transport), n in list(stats.queries.items()):
            rcode_text = w.RCODE_TEXT.get(rcode, str(rcode))
            qtype_text = "other" if qtype == QTYPE_OTHER else w.type_text(qtype)
            queries.add_metric([zone, qtype_text, rcode_text, transport], n)
        yield queries
        yield counters(
            "geodns_responses_by_pool",
            "Policy answers by pool",
            ["zone", "name", "pool"],
            stats.by_pool,
        )
        hist = HistogramMetricFamily(
            "geodns_query_duration_seconds", "Time to answer a query (sampled 1 in 32)"
        )
        buckets, total = stats.duration_buckets()
        hist.add_metric([], buckets=buckets, sum_value=total)
        yield hist
        yield counters(
            "geodns_cookies", "Queries with a DNS COOKIE, by result", ["result"], stats.cookies
        )
        yield counters(
            "geodns_rrl_actions", "Rate-limited UDP responses, by action", ["action"], stats.rrl
        )

    @staticmethod
    def _health(app: Sources, stats: Any) -> Iterator[Metric]:
        board = app.board
        up = GaugeMetricFamily(
            "geodns_health_member_up", "1 if the member is up", labels=["zone", "pool", "address"]
        )
        for member in board.members():
            up.add_metric(list(member), 1.0 if board.is_up(member) else 0.0)
        yield up
        yield counters(
            "geodns_health_checks",
            "Health checks run",
            ["zone", "pool", "result"],
            board.checks_total,
        )
        yield counters(
            "geodns_health_transitions",
            "Member state changes",
            ["zone", "pool", "address", "to"],
            board.transitions_total,
        )
        fail_open = CounterMetricFamily(
            "geodns_fail_open", "Answers given from a pool whose members were all down"
        )
        fail_open.add_metric([], stats.fail_open)
        yield fail_open
        yield from _fleet(app)


def _fleet(app: Sources) -> Iterator[Metric]:
    """Fresh instances (us included) under our fleet state, 0 under the other two states;
    the generation we serve as an info metric (compare it across the fleet)."""
    summary = app.fleet.summary()
    instances = GaugeMetricFamily(
        "geodns_fleet_instances", "Fresh fleet instances, by our state", labels=["state"]
    )
    for state in ("off", "joined", "degraded"):
        instances.add_metric([state], summary["instances"] if state == summary["state"] else 0)
    yield instances
    info = GaugeMetricFamily(
        "geodns_config_generation_info", "Config and zones generation", labels=["generation"]
    )
    info.add_metric([app.fleet.generation], 1)
    yield info


def registry_for(app: Sources) -> tuple[CollectorRegistry, GeoDNSCollector]:
    """A registry of our own (not the global one), so several apps can live in one process."""
    registry = CollectorRegistry(auto_describe=False)
    collector = GeoDNSCollector(app)
    registry.register(collector)
    return registry, collector


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def counters(name: str, doc: str, labels: list[str], counts: dict) -> CounterMetricFamily:
    """A counter family from a dict of label value(s) -> count (copied first: the hot path
    may add a key while a scrape reads)."""
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, n in list(counts.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], n)
    return family
