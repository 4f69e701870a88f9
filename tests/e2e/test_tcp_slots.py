"""TCP slots under attack: trickling clients, one source taking many, clients that reset."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator

import dns.exception
import dns.message
import dns.query
import pytest

from tests.conftest import CORE_ZONES
from tests.servers import DATA, ServerProcess, ServerThread, wait_for, write_config

QUERY = dns.message.make_query("static.example.test", "A")


def frame(msg: dns.message.Message) -> bytes:
    wire = msg.to_wire()
    return struct.pack("!H", len(wire)) + wire


def tcp_counters(server: ServerThread) -> tuple[int, dict[str, int]]:
    """(connections open now, the refused/evicted/... counters), summed over the workers."""
    totals = server.call(server.app.dns.refresh)
    return totals.tcp_open, totals.tcp


class Tricklers:
    """Clients that each send one byte a second and reconnect at once when closed.

    They run on their own event loop in a thread, from `sources` (127.0.0.N addresses), so
    they hold what a slow-loris attacker holds; `connects` counts their connections.
    """

    def __init__(self, addr: tuple[str, int], sources: list[str]) -> None:
        self.addr, self.sources = addr, sources
        self.connects = 0
        self.loop = asyncio.new_event_loop()
        self.stopping: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Tricklers:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)  # type: ignore[union-attr]
        self.thread.join(15)

    def _run(self) -> None:
        async def main() -> None:
            self.stopping = asyncio.Event()
            tasks = [asyncio.ensure_future(self._one(src)) for src in self.sources]
            await self.stopping.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.loop.run_until_complete(main())
        self.loop.close()

    async def _one(self, source: str) -> None:
        payload = frame(QUERY)
        while True:
            try:
                reader, writer = await asyncio.open_connection(*self.addr, local_addr=(source, 0))
            except OSError:
                await asyncio.sleep(0.05)
                continue
            self.connects += 1
            try:
                for i in range(len(payload)):  # never completes: 30-odd seconds at this rate
                    writer.write(payload[i : i + 1])
                    try:
                        await asyncio.wait_for(reader.read(1), 1.0)
                        break  # closed by the server (EOF or reset): reconnect
                    except TimeoutError:
                        continue
            except OSError:
                pass
            finally:
                writer.close()
            await asyncio.sleep(0.02)


def query_from(source: str, addr: tuple[str, int], within: float) -> float:
    """Seconds until a query from `source` over TCP is answered; fails after `within`."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        try:
            reply = dns.query.tcp(QUERY, addr[0], port=addr[1], timeout=2, source=source)
        except (OSError, EOFError, dns.exception.Timeout):
            time.sleep(0.05)
            continue
        assert reply.answer
        return time.monotonic() - started
    raise AssertionError(f"no answer from {addr} for {source} within {within}s")


@pytest.fixture
def slots_server(tmp_path) -> Iterator[ServerThread]:
    dns_conf = {"listen": ["127.0.0.1:0"], "tcp_max_connections": 200}
    server = ServerThread(write_config(tmp_path, CORE_ZONES, dns=dns_conf)).start()
    yield server
    server.stop()


def test_trickling_clients_do_not_shut_out_another_network(slots_server: ServerThread) -> None:
    """250 clients on 25 addresses (10 each: under the per-source limit) trickle a byte a
    second against a cap of 200: a client from another network is still answered within 12 s.

    Before the message deadline and eviction, this client got no answer at all.
    """
    addr = slots_server.where(4)
    sources = [f"127.0.0.{10 + i // 10}" for i in range(250)]
    with Tricklers(addr, sources) as attack:
        # Held: every one of them connected, and with each slot holding a message in
        # progress the surplus is being turned away.
        wait_for(lambda: attack.connects >= 250, timeout=15)
        wait_for(lambda: tcp_counters(slots_server)[1]["refused"] > 0, timeout=15)
        took = query_from("127.0.9.1", addr, within=12)
        opened, counts = tcp_counters(slots_server)
        assert opened <= 200
        print(f"answered after {took:.3f}s under attack; open {opened}")
        assert attack.connects > 250  # they were closed and came back
    assert counts["evicted"] + counts["evicted_slow"] > 0  # room was made, not refused
    print(f"counters {counts}")


@pytest.fixture
def per_source_server(tmp_path) -> Iterator[ServerThread]:
    dns_conf = {
        "listen": ["127.0.0.1:0"],
        "workers": 1,  # the limit is per worker: shown exactly with one
        "tcp_max_per_source": 4,
        "tcp_idle_timeout": "30s",
        "tcp_message_timeout": "30s",
    }
    server = ServerThread(write_config(tmp_path, CORE_ZONES, dns=dns_conf)).start()
    yield server
    server.stop()


def connect_from(source: str, addr: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.bind((source, 0))
    sock.connect(addr)
    return sock


def is_closed(sock: socket.socket) -> bool:
    """Closed by the server (EOF or reset) rather than open with nothing to read."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True
    finally:
        sock.settimeout(5)


def test_one_source_gets_at_most_its_share(per_source_server: ServerThread) -> None:
    addr = per_source_server.where(4)
    held = [connect_from("127.0.0.5", addr) for _ in range(10)]
    try:
        wait_for(lambda: tcp_counters(per_source_server)[1]["refused_per_source"] == 6)
        assert tcp_counters(per_source_server)[0] == 4
        closed = [s for s in held if is_closed(s)]
        assert len(closed) == 6  # the extra ones were closed at once, in no particular order
        kept = [s for s in held if s not in closed]
        kept[0].sendall(frame(QUERY))
        assert dns.message.from_wire(kept[0].recv(2 + 65535)[2:]).answer
        assert query_from("127.0.0.6", addr, within=5) < 5  # another address is unaffected
    finally:
        for sock in held:
            sock.close()


def test_reset_after_a_policy_query_is_not_an_error(tmp_path) -> None:
    """A client that resets right after its query: answered or not, never an internal error."""
    path = write_config(
        tmp_path,
        DATA / "zones" / "geo",
        dns={"listen": ["127.0.0.1:0"]},
        geoip={"city": str(DATA / "city-test.mmdb"), "asn": str(DATA / "asn-test.mmdb")},
    )
    server = ServerProcess(["serve", "--config", str(path)]).start()
    try:
        addr = server.bound[0]
        wire = frame(dns.message.make_query("www.geo.test", "A"))
        for _ in range(300):
            with socket.create_connection(addr, timeout=5) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.sendall(wire)  # then close with linger 0: a reset, not a FIN
        reply = dns.query.tcp(dns.message.make_query("www.geo.test", "A"), addr[0], port=addr[1])
        assert reply.answer
    finally:
        assert server.stop() == 0
    assert "internal error" not in server.log and "Traceback" not in server.log
