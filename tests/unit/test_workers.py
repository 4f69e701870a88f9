"""Worker counters add up across processes and never go back when a worker exits."""

from __future__ import annotations

from geodns.dns.stats import Stats
from geodns.health.board import HealthBoard
from geodns.serve.channel import Totals, health_change, snapshot
from geodns.serve.protocols import TcpLimits
from geodns.serve.worker import PushedHealth


def worker_snapshot(queries: int, pool_hits: int, tcp_open: int) -> dict:
    stats = Stats()
    for _ in range(queries):
        stats.udp("z.", 1, 0)
    stats.by_pool[("z.", "www", "eu")] += pool_hits
    stats.observe(0.0002)
    stats.fail_open = 1
    limits = TcpLimits()
    limits.open = tcp_open
    return snapshot(stats, limits, (queries, 1))


def test_totals_add_every_counter_and_only_live_connections() -> None:
    retired = Totals()
    retired.add(worker_snapshot(5, 2, 3), live=False)  # a worker that has exited
    totals = retired.copy()
    totals.add(worker_snapshot(7, 4, 2))
    assert totals.stats.queries[("z.", 1, 0, "udp")] == 12
    assert totals.stats.by_pool[("z.", "www", "eu")] == 6
    assert sum(totals.stats.durations) == 2 and totals.stats.fail_open == 2
    assert (totals.geoip_hits, totals.geoip_misses) == (12, 2)
    assert totals.tcp_open == 2  # connections of the exited worker are closed
    assert retired.stats.queries[("z.", 1, 0, "udp")] == 5  # copy() left the base alone


def test_pushed_health_reads_the_down_set() -> None:
    health = PushedHealth(3, frozenset({("z.", "eu", "192.0.2.1")}), {("z.", "eu"): 4})
    assert not health.is_up(("z.", "eu", "192.0.2.1"))
    assert health.is_up(("z.", "eu", "192.0.2.2"))
    assert health.generation == 3 and health.pool_generation(("z.", "eu")) == 4


def test_health_changes_cross_the_channel_as_deltas() -> None:
    """Only what moved is sent; applied in order, the worker's view equals the board's."""
    board = HealthBoard()
    members = {("z.", p, f"192.0.2.{i}"): None for i, p in enumerate(["eu", "eu", "us", "ap"])}
    board.set_members(members)
    seen = (board.down(), board.pool_generations())
    worker = PushedHealth(board.generation, seen[0], seen[1])
    sizes = []
    for member, drain in [
        (("z.", "eu", "192.0.2.0"), True),
        (("z.", "us", "192.0.2.2"), True),
        (("z.", "eu", "192.0.2.0"), False),
        (("z.", "ap", "192.0.2.3"), True),
    ]:
        (board.drain if drain else board.undrain)(member)
        change, seen = health_change(board.down(), board.pool_generations(), board.generation, seen)
        sizes.append(len(change.down) + len(change.up) + len(change.pools))
        worker.apply(change)
        assert worker.down == set(board.down()) and worker.generation == board.generation
        for pool in ("eu", "us", "ap"):
            assert worker.pool_generation(("z.", pool)) == board.pool_generation(("z.", pool))
    assert sizes == [2, 2, 2, 2]  # one member and one pool each time, never the whole set


def test_cookie_and_rrl_counts_reach_the_supervisor() -> None:
    """Counted in each worker, exported by the supervisor: the snapshot carries them and
    the totals add them up, exited workers included."""
    one, two = Stats(), Stats()
    one.cookies["new"] += 3
    one.rrl["slip"] += 2
    two.cookies["valid"] += 5
    limits = TcpLimits()
    totals = Totals()
    totals.add(snapshot(one, limits, (0, 0)), live=False)
    totals.add(snapshot(two, limits, (0, 0)))
    copied = totals.copy()
    for stats in (totals.stats, copied.stats):
        assert stats.cookies["new"] == 3 and stats.cookies["valid"] == 5
        assert stats.rrl["slip"] == 2


def test_size_histograms_and_native_observations_add_up() -> None:
    """Python's answers and the native threads' cumulative histograms (added as growth)
    land in the same buckets; workers' snapshots sum; the export is cumulative."""
    stats = Stats()
    stats.answered("udp", 40, 100, 0.00004)  # 40 <= 100, 100 <= 100, 40 µs <= 50 µs
    stats.answered("tcp", 60, 600, 0.002)  # 600 <= 1023; 2 ms <= 2.5 ms
    native = {
        "latency": [3] + [0] * 10,
        "latency_ns": 90_000,
        "request": [0, 3] + [0] * 13,
        "request_bytes": 120,
        "response": [0, 0, 3] + [0] * 12,
        "response_bytes": 450,
        "geo": 2,
    }
    seen: dict = {}
    stats.add_native(seen, native)
    stats.add_native(seen, native)  # nothing grew: nothing added twice
    assert stats.durations[0] == 4 and stats.durations[5] == 1
    assert stats.sizes[("request", "udp")][1] == 4 and stats.sizes[("request", "udp")][-1] == 160
    assert stats.sizes[("response", "udp")][1:3] == [1, 3]
    assert stats.sizes[("response", "tcp")][6] == 1 and stats.geoip_native == 2
    totals = Totals()
    totals.add(snapshot(stats, TcpLimits(), (0, 0)))
    totals.add(snapshot(stats, TcpLimits(), (0, 0)))
    buckets, total = totals.stats.size_buckets("response", "udp")
    assert buckets[1] == ("100", 2) and buckets[2] == ("200", 8) and buckets[-1] == ("+Inf", 8)
    assert total == 2 * (100 + 450)
