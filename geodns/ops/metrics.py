"""Every metric, `geodns_` prefix: hot-path ints turned into samples only when scraped."""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from geodns import __version__
from geodns import wire as w
from geodns.dns.stats import QTYPE_OTHER, TRANSPORTS
from geodns.fleet import drains
from geodns.fleet.seal import REASONS
from geodns.health.board import MemberStatus
from geodns.ops import rttapi
from geodns.ops.sources import Counters, Sources

# What /metrics is served as: the text format Prometheus parses (prometheus-client's own
# CONTENT_TYPE_LATEST became version=1.0.0 in 0.22, which older servers do not know)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# queries_total's zone for queries outside every zone (REFUSED) and unparsed ones (FORMERR,
# NOTIMP): a word no zone can be, never an empty label value
NO_ZONE = "(none)"
MEMBER_STATES = ("up", "down", "drained", "unknown", "unchecked")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


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
        yield from _reloads(app)
        hits = CounterMetricFamily("geodns_geoip_cache_hits", "GeoIP cache hits")
        hits.add_metric([], counters.geoip_hits)
        yield hits
        misses = CounterMetricFamily("geodns_geoip_cache_misses", "GeoIP lookups not cached")
        misses.add_metric([], counters.geoip_misses)
        yield misses
        yield from _tcp(counters)
        yield from _workers(app, counters)
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
            queries.add_metric([zone or NO_ZONE, qtype_text, rcode_text, transport], n)
        yield queries
        yield single(
            "geodns_truncated_responses",
            "UDP replies sent with TC set (too big for the client, or an RRL slip)",
            stats.truncated,
        )
        yield single(
            "geodns_internal_errors",
            "Queries whose handling raised (logged, answered SERVFAIL)",
            stats.internal_errors,
        )
        yield single(
            "geodns_native_handover_dropped",
            "Queries the native threads could not hand to Python (its queue full): unanswered",
            stats.handover_dropped,
        )
        yield counters(
            "geodns_native_engine_queries",
            "Queries reaching the native engine, by transport and who answered: native, or "
            "python (handed to the slow handler)",
            ["transport", "answered_by"],
            stats.engine,
        )
        yield counters(
            "geodns_responses_by_pool",
            "Policy answers by pool",
            ["zone", "name", "pool"],
            stats.by_pool,
        )
        hist = HistogramMetricFamily(
            "geodns_query_duration_seconds",
            "Time from a query's receipt to its answer's send, every answer (native ones too)",
        )
        buckets, total = stats.duration_buckets()
        hist.add_metric([], buckets=buckets, sum_value=total)
        yield hist
        yield from _sizes(stats)
        yield counters(
            "geodns_cookies", "Queries with a DNS COOKIE, by result", ["result"], stats.cookies
        )
        yield counters(
            "geodns_rrl_actions", "Rate-limited UDP responses, by action", ["action"], stats.rrl
        )
        yield counters(
            "geodns_query_log_dropped",
            "Query log records lost: a ring full (the answer never waits), dnstap unconnected",
            ["reason"],
            stats.query_log,
        )
        yield counters(
            "geodns_dns_updates", "RFC 2136 UPDATEs, by outcome", ["result"], stats.updates
        )

    @staticmethod
    def _health(app: Sources, stats: Any) -> Iterator[Metric]:
        board = app.board
        up = GaugeMetricFamily(
            "geodns_health_member_up", "1 if the member is up", labels=["zone", "pool", "address"]
        )
        state = GaugeMetricFamily(
            "geodns_health_member_state",
            "1 on the member's current state: up, down, drained, unknown (checked, no verdict "
            "yet) or unchecked (no check configured, always up)",
            labels=["zone", "pool", "address", "state"],
        )
        for member in board.members():
            up.add_metric(list(member), 1.0 if board.is_up(member) else 0.0)
            current = member_state(board.status(member))
            for name in MEMBER_STATES:
                state.add_metric([*member, name], 1.0 if name == current else 0.0)
        yield up
        yield state
        yield _floors(app)
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
        yield from rttapi.families(app)  # pool_load, pool_capacity_factor (steering)


def _sizes(stats: Any) -> Iterator[Metric]:
    """request_size_bytes and response_size_bytes{transport}, as CoreDNS has them."""
    for kind in ("request", "response"):
        family = HistogramMetricFamily(
            f"geodns_{kind}_size_bytes", f"Size of each {kind} answered", labels=["transport"]
        )
        for transport in TRANSPORTS:
            buckets, total = stats.size_buckets(kind, transport)
            family.add_metric([transport], buckets=buckets, sum_value=total)
        yield family


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
    rejected = CounterMetricFamily(
        "geodns_fleet_rejected", "Bus entries ignored (forged, replayed, future)", labels=["reason"]
    )
    counts = Counter(app.fleet.rejected())
    if getattr(app, "content", None) is not None:  # zone documents (zones.source: fleet)
        counts.update(app.content.seal.guard.rejected)
    for reason in REASONS:
        rejected.add_metric([reason], counts.get(reason, 0))
    yield rejected
    held = CounterMetricFamily(
        "geodns_fleet_drains_held", "Drains a merge kept back to respect min_healthy"
    )
    held.add_metric([], app.fleet.book.held_total)
    yield held


def _floors(app: Sources) -> GaugeMetricFamily:
    """Each pool's `min_healthy` as a member count, for pools that set one (an alert
    compares it with the sum of health_member_up)."""
    floors = GaugeMetricFamily(
        "geodns_pool_min_healthy",
        "Members a pool must keep up (its min_healthy as a count)",
        labels=["zone", "pool"],
    )
    for zt in app.table.zones.values():
        for pool in zt.zone.pools.values():
            if pool.min_healthy is not None:
                floors.add_metric([zt.zone.origin_text, pool.name], drains.floor(pool))
    return floors


def _reloads(app: Sources) -> Iterator[Metric]:
    reloads = CounterMetricFamily("geodns_zone_reloads", "Zone reloads", labels=["result"])
    reloads.add_metric(["ok"], app.reloads.ok)
    reloads.add_metric(["error"], app.reloads.error)
    yield reloads
    yield single("geodns_zone_removals", "Zones dropped by a reload", app.reloads.removed)
    serial = GaugeMetricFamily("geodns_zone_serial", "SOA serial per zone", labels=["zone"])
    for zone, value in app.table.serials().items():
        serial.add_metric([zone], value)
    yield serial
    expiry = GaugeMetricFamily(
        "geodns_dnssec_signature_expiry_seconds",
        "Seconds until the RRSIGs served now expire, per signed zone (re-signed weekly)",
        labels=["zone"],
    )
    for zt in app.table.zones.values():
        if zt.signer is not None:
            expiry.add_metric([zt.zone.origin_text], zt.signer.expires_in())
    yield expiry
    yield single(
        "geodns_geoip_reload_failures",
        "Changed GeoIP files refused (corrupt or unreadable); the old data serves on",
        app.locator.reload_failures,
    )
    refused = CounterMetricFamily(
        "geodns_geoip_swaps_refused",
        "Changed GeoIP files not swapped in: broken, or suspect (geoip.accept_shrink)",
        labels=["reason"],
    )
    refusals = app.locator.refusals
    refused.add_metric(["suspect"], refusals.suspect)
    refused.add_metric(["broken"], refusals.broken)
    yield refused
    last = GaugeMetricFamily(
        "geodns_reload_last_success",
        "1 when the last reload of this kind (zones: config and zone files; geoip: the "
        ".mmdb files) succeeded or none was tried, 0 while the last one failed",
        labels=["kind"],
    )
    last.add_metric(["zones"], 1.0 if app.reloads.last_ok else 0.0)
    last.add_metric(["geoip"], 1.0 if app.locator.reload_last_ok else 0.0)
    yield last


def _tcp(counters: Counters) -> Iterator[Metric]:
    """Open connections, and what the connection caps did (dns.tcp_max_*, per worker)."""
    tcp = GaugeMetricFamily("geodns_tcp_connections", "Open TCP connections")
    tcp.add_metric([], counters.tcp_open)
    yield tcp
    t = counters.tcp
    yield single(
        "geodns_tcp_connections_accepted", "TCP connections accepted", t.get("accepted", 0)
    )
    refused = CounterMetricFamily(
        "geodns_tcp_connections_refused",
        "TCP connections closed at accept: over dns.tcp_max_connections with nothing to "
        "evict (max_connections) or over dns.tcp_max_per_source (per_source)",
        labels=["reason"],
    )
    refused.add_metric(["max_connections"], t.get("refused", 0))
    refused.add_metric(["per_source"], t.get("refused_per_source", 0))
    yield refused
    evicted = CounterMetricFamily(
        "geodns_tcp_connections_evicted",
        "Connections closed at the cap to make room: the longest idle, else a slow message",
        labels=["reason"],
    )
    evicted.add_metric(["idle"], t.get("evicted", 0))
    evicted.add_metric(["slow"], t.get("evicted_slow", 0))
    yield evicted
    yield single(
        "geodns_tcp_message_timeouts",
        "TCP connections closed because a message took over dns.tcp_message_timeout",
        t.get("message_timeouts", 0),
    )
    yield single(
        "geodns_tcp_write_timeouts",
        "TCP connections reset because their answers stayed unread over dns.tcp_write_timeout",
        t.get("write_timeouts", 0),
    )


def _workers(app: Sources, counters: Counters) -> Iterator[Metric]:
    """The answering processes: process_* describes only this (the supervisor) process."""
    yield single(
        "geodns_workers_cpu_seconds",
        "CPU time of the worker processes (exited ones included); process_cpu_seconds_total "
        "is the supervisor's alone",
        counters.cpu_seconds,
    )
    rss = GaugeMetricFamily(
        "geodns_worker_resident_memory_bytes", "Resident memory per worker slot", labels=["slot"]
    )
    age = GaugeMetricFamily(
        "geodns_worker_stats_age_seconds",
        "Age of the counters a worker last sent (a stuck worker's grow; polled every 5 s)",
        labels=["slot"],
    )
    now = time.time()
    for worker in app.worker_status():
        if worker.get("serving"):
            size = resident_bytes(worker["pid"])
            if size is not None:
                rss.add_metric([str(worker["slot"])], size)
            if worker.get("stats_at") is not None:
                age.add_metric([str(worker["slot"])], max(now - worker["stats_at"], 0.0))
    yield rss
    yield age
    ready = GaugeMetricFamily(
        "geodns_ready", "1 when /readyz says ready (sockets bound, health round, zones loaded)"
    )
    ready.add_metric([], 1.0 if app.ready and app.table.zones else 0.0)
    yield ready


def resident_bytes(pid: int) -> int | None:
    """A process's resident set from /proc (Linux); None where there is none."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


def member_state(status: MemberStatus | None) -> str:
    """One word for a member, the same in /metrics and /api/v1/status: drained beats the
    check (a drained member without a check is drained too); no check is `unchecked`."""
    if status is None:
        return "unchecked"
    if status.drained:
        return "drained"
    if not status.checked:
        return "unchecked"
    verdict = status.quorum or status.state
    return verdict if verdict in ("up", "down") else "unknown"


def registry_for(app: Sources) -> tuple[CollectorRegistry, GeoDNSCollector]:
    """A registry of our own (not the global one), so several apps can live in one process;
    process_* (CPU, memory, descriptors of this process) from prometheus-client's collector."""
    registry = CollectorRegistry(auto_describe=False)
    collector = GeoDNSCollector(app)
    registry.register(collector)
    ProcessCollector(registry=registry)
    return registry, collector


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def single(name: str, doc: str, value: float) -> CounterMetricFamily:
    """A counter without labels."""
    family = CounterMetricFamily(name, doc)
    family.add_metric([], value)
    return family


def counters(name: str, doc: str, labels: list[str], counts: dict) -> CounterMetricFamily:
    """A counter family from a dict of label value(s) -> count (copied first: the hot path
    may add a key while a scrape reads)."""
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, n in list(counts.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], n)
    return family
