"""A running server reloads only the zone file that changed and keeps answering the others."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import dns.message
import pytest

from geodns.zones import zonefile
from tests.servers import ServerThread, write_config

# Who answers matters here: `make test` runs these again with two workers and on the
# Python fast path (-m workers, -m fast_path).
pytestmark = [pytest.mark.workers, pytest.mark.fast_path]

ORIGINS = ("a.test.", "b.test.", "c.test.")


def zone_text(origin: str, address: str) -> str:
    return f"zone: {origin}\nns: [ns1.{origin}]\nrecords:\n  www: {{A: {address}}}\n"


def write(path: Path, text: str, age: float) -> None:
    """Write the file with an mtime `age` seconds ago, so each write is a visible change."""
    path.write_text(text)
    past = os.stat(path).st_mtime - age
    os.utime(path, (past, past))


def answers(server: ServerThread) -> dict[str, list[str]]:
    out = {}
    for origin in ORIGINS:
        reply = server.udp(dns.message.make_query(f"www.{origin}", "A"))
        out[origin] = sorted(rr.to_text() for rrset in reply.answer for rr in rrset)
    return out


def settled(server: ServerThread) -> None:
    """Wait until the retired table has been dismantled (it is emptied in place)."""
    server.call(lambda: asyncio.gather(*list(server.app._background), return_exceptions=True))


def test_reload_parses_one_changed_file_and_serves_the_rest(tmp_path: Path, monkeypatch) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    for i, origin in enumerate(ORIGINS):
        write(zones / f"{origin}yaml", zone_text(origin, f"192.0.2.{i + 1}"), age=300)
    parses: list[str] = []
    parse = zonefile.load_text

    def counted(text: str, path: str, **kwargs):
        parses.append(path)
        return parse(text, path, **kwargs)

    monkeypatch.setattr(zonefile, "load_text", counted)
    server = ServerThread(write_config(tmp_path, zones, dns={"listen": ["127.0.0.1:0"]})).start()
    try:
        first = answers(server)
        assert first["b.test."] == ["192.0.2.2"] and len(parses) == 3
        for n, age in ((20, 200), (21, 100)):  # twice: the second forks after a dismantle
            parses.clear()
            write(zones / "b.test.yaml", zone_text("b.test.", f"192.0.2.{n}"), age=age)
            assert server.call(server.app.reload) is True
            settled(server)
            assert parses == [str(zones / "b.test.yaml")]
            now = answers(server)
            assert now == {**first, "b.test.": [f"192.0.2.{n}"]}
        parses.clear()
        write(zones / "c.test.yaml", zone_text("c.test.", "192.0.2.300"), age=50)
        assert server.call(server.app.reload) is False
        assert parses == [str(zones / "c.test.yaml")]
        assert answers(server) == now  # the broken file changed nothing
    finally:
        server.stop()
