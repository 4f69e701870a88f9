"""Who gets a TCP slot: peerless connections, the per-source limit, eviction at the cap."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from geodns.serve.tcp import TcpLimits, TcpProtocol


class FakeTransport:
    """What TcpProtocol uses of an asyncio transport, recorded."""

    def __init__(self, peer: tuple[str, int] | None) -> None:
        self.peer = peer
        self.closed = False
        self.written: list[bytes] = []
        self.unsent = 0  # bytes the client has not read yet

    def get_extra_info(self, key: str, default: Any = None) -> Any:
        return self.peer if key == "peername" else default

    def close(self) -> None:
        self.closed = True

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.limits = (high, low)


def run(body: Callable[[], None]) -> None:
    """Protocols arm their timers on the running loop: run the body inside one."""

    async def main() -> None:
        body()

    asyncio.run(main())


def connect(limits: TcpLimits, peer: tuple[str, int] | None, calls: list) -> TcpProtocol:
    def handle(query: bytes, source: str, size: int, count: Any) -> bytes:
        calls.append(source)
        return query

    conn = TcpProtocol(handle, limits, lambda *a: None)
    conn.connection_made(FakeTransport(peer))  # type: ignore[arg-type]
    return conn


def test_a_connection_gone_before_we_saw_its_peer_is_closed_unanswered() -> None:
    def body() -> None:
        limits, calls = TcpLimits(), []
        conn = connect(limits, None, calls)  # reset before connection_made: no peername
        conn.data_received(b"\x00\x02hi")
        assert conn.transport.closed  # type: ignore[union-attr]
        assert calls == [] and limits.open == 0 and limits.accepted == 0
        conn.connection_lost(None)
        assert limits.open == 0

    run(body)


def test_the_peer_is_read_once_at_connect() -> None:
    def body() -> None:
        limits, calls = TcpLimits(), []
        conn = connect(limits, ("192.0.2.7", 4000), calls)
        conn.transport.peer = None  # type: ignore[union-attr]  # reset since: no matter
        conn.data_received(b"\x00\x02hi")
        assert calls == ["192.0.2.7"]

    run(body)


def test_one_source_is_held_to_its_limit() -> None:
    def body() -> None:
        limits, calls = TcpLimits(max_per_source=2), []
        conns = [connect(limits, ("192.0.2.1", p), calls) for p in range(3)]
        other = connect(limits, ("192.0.2.2", 1), calls)
        assert [c.transport.closed for c in conns] == [False, False, True]  # type: ignore[union-attr]
        assert not other.transport.closed  # type: ignore[union-attr]
        assert limits.refused_per_source == 1 and limits.sources == {"192.0.2.1": 2, "192.0.2.2": 1}
        conns[0].connection_lost(None)
        assert limits.sources["192.0.2.1"] == 1

    run(body)


def test_the_cap_evicts_the_longest_idle_with_nothing_unsent() -> None:
    def body() -> None:
        limits, calls = TcpLimits(max_connections=3), []
        a, b, c = (connect(limits, (f"192.0.2.{n}", 1), calls) for n in (1, 2, 3))
        a.data_received(b"\x00\x02hi")  # answered: now the most recently active
        b.transport.unsent = 10  # type: ignore[union-attr]  # its answer is not out yet
        d = connect(limits, ("192.0.2.4", 1), calls)
        assert not d.transport.closed and c.transport.closed  # type: ignore[union-attr]
        assert not a.transport.closed and not b.transport.closed  # type: ignore[union-attr]
        assert limits.open == 3 and limits.evicted == 1
        c.connection_lost(None)  # the close reports back later: counted once only
        assert limits.open == 3

    run(body)


def test_at_the_cap_a_stalled_message_goes_a_fresh_one_stays() -> None:
    def body() -> None:
        limits, calls = TcpLimits(max_connections=1), []
        slow = connect(limits, ("192.0.2.1", 1), calls)
        slow.data_received(b"\x00")  # a message begun, just now
        refused = connect(limits, ("192.0.2.2", 1), calls)
        assert refused.transport.closed and limits.refused == 1  # type: ignore[union-attr]
        slow.message_started -= 2.0  # two seconds on, still not whole: a trickler
        late = connect(limits, ("192.0.2.3", 1), calls)
        assert not late.transport.closed and slow.transport.closed  # type: ignore[union-attr]
        assert limits.evicted_slow == 1 and limits.open == 1

    run(body)


def test_bytes_do_not_move_a_message_deadline() -> None:
    def body() -> None:
        limits, calls = TcpLimits(idle_timeout=10.0, message_timeout=3.0), []
        conn = connect(limits, ("192.0.2.1", 1), calls)
        first = conn.message_deadline  # the first message: from the connect
        conn.data_received(b"\x00")
        conn.data_received(b"\x02h")
        assert conn.message_deadline == first
        conn.data_received(b"i")  # whole: answered, then idle until the idle deadline
        assert calls and conn.idle_deadline > first
        conn.data_received(b"\x00")  # the next message's clock starts at its first byte
        assert first < conn.message_deadline < conn.idle_deadline
        assert conn.timer_at <= conn.message_deadline  # the timer looks no later

    run(body)


def test_config_keys_and_a_workers_share(tmp_path) -> None:
    from geodns import config
    from geodns.errors import ConfigError
    from geodns.serve.worker import tcp_limits

    path = tmp_path / "c.yaml"
    path.write_text(
        "dns: {workers: 3, tcp_max_connections: 200, tcp_message_timeout: 500ms,"
        " tcp_max_per_source: 4, shutdown_grace: 2s}\n"
    )
    conf = config.load(str(path))
    assert (conf.dns.tcp_message_timeout, conf.dns.shutdown_grace) == (0.5, 2.0)
    limits = tcp_limits(conf)
    assert limits.max_connections == 67  # the cap split over 3 workers, rounded up
    assert (limits.max_per_source, limits.message_timeout) == (4, 0.5)  # per worker, whole
    defaults = config.DnsConfig()
    assert (defaults.tcp_message_timeout, defaults.tcp_max_per_source) == (3.0, 16)
    path.write_text("dns:\n  tcp_message_timeout: 0s\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:2: dns\.tcp_message_timeout: must be positive"):
        config.load(str(path))
    path.write_text("dns: {tcp_write_timeout: 1500ms}\n")
    assert tcp_limits(config.load(str(path))).write_timeout == 1.5
    assert config.DnsConfig().tcp_write_timeout == 5.0
    path.write_text("dns:\n  tcp_write_timeout: 0s\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:2: dns\.tcp_write_timeout: must be positive"):
        config.load(str(path))


def test_worker_counters_add_up_exited_workers_included() -> None:
    from geodns.dns.stats import Stats
    from geodns.serve.channel import Totals, snapshot

    one, two = TcpLimits(refused=2, evicted=3, open=5), TcpLimits(evicted_slow=1, open=1)
    totals = Totals()
    totals.add(snapshot(Stats(), one, (0, 0)), live=False)  # exited: counts stay, not open
    totals.add(snapshot(Stats(), two, (0, 0)))
    copy = totals.copy()
    assert copy.tcp["refused"] == 2 and copy.tcp["evicted"] == 3
    assert copy.tcp["evicted_slow"] == 1 and totals.tcp_open == 1
