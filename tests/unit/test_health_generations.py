"""Health generations per pool: a flap in one pool leaves the others' cached decisions alone."""

from __future__ import annotations

from pathlib import Path

import dns.message
import dns.rrset
import pytest

from geodns import build, config, policies
from geodns.geo.locator import Locator
from geodns.health.board import HealthBoard

ZONE = """
zone: pools.test.
ns: [ns1.pools.test.]
pools:
  a: {addresses: [192.0.2.1]}
  b: {addresses: [192.0.2.2]}
  c: {addresses: [192.0.2.3]}
records:
  ns1: {A: 192.0.2.53}
  www: {failover: [a, c]}
  api: {failover: [b, c]}
"""


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A handler over the zone with a real board, and a count of decisions actually made."""
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "pools.test.yaml").write_text(ZONE)
    conf = config.from_mapping({"zones_dir": str(tmp_path / "zones")}, str(tmp_path / "c.yaml"))
    table = build.build_table(conf)
    board = HealthBoard()
    board.set_members(build.table_members(table))
    clients = build.client_factory(conf, Locator(None, None))
    handler = build.make_handler(conf, table, clients, board)
    made: list[str] = []
    real = policies.resolve

    def counting(node, *args, **kwargs):
        made.append(type(node).__name__)
        return real(node, *args, **kwargs)

    monkeypatch.setattr(policies, "resolve", counting)

    def ask(name: str) -> list[str]:
        query = dns.message.make_query(f"{name}.pools.test.", "A", use_edns=False)
        reply = dns.message.from_wire(handler.handle(query.to_wire(), "198.51.100.7"))
        return [rd.address for rrset in reply.answer for rd in rrset]

    return board, ask, made


def test_a_flap_in_one_pool_keeps_other_pools_decisions(served) -> None:
    board, ask, made = served
    assert ask("www") == ["192.0.2.1"] and ask("api") == ["192.0.2.2"]
    assert len(made) == 2
    assert ask("www") == ["192.0.2.1"] and ask("api") == ["192.0.2.2"]
    assert len(made) == 2, "warm: both answers come from the memo"

    assert board.drain(("pools.test.", "b", "192.0.2.2"))
    assert ask("www") == ["192.0.2.1"]
    assert len(made) == 2, "www reads pools a and c only: its decision stays cached"
    assert ask("api") == ["192.0.2.3"]
    assert len(made) == 3, "api reads pool b: decided again, and moved to c"


def test_a_flap_in_a_shared_pool_moves_every_name_that_reads_it(served) -> None:
    board, ask, made = served
    ask("www"), ask("api")
    assert board.drain(("pools.test.", "c", "192.0.2.3"))
    assert ask("www") == ["192.0.2.1"] and ask("api") == ["192.0.2.2"]
    assert len(made) == 4, "both names read pool c: both decided again"
    assert board.undrain(("pools.test.", "c", "192.0.2.3"))
    assert board.drain(("pools.test.", "a", "192.0.2.1"))
    assert ask("www") == ["192.0.2.3"]
    assert ask("api") == ["192.0.2.2"]
    assert len(made) == 6
