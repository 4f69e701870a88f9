"""Quorum health across three instances: one instance's bad path to a backend is outvoted and
shown as dissent; a backend down for everyone is failed over everywhere in time."""

from __future__ import annotations

import time

from geodns import __version__
from tests.servers import wait_for

pytest_plugins = ["tests.e2e.fleetkit"]  # the nats_server, backends and fleet fixtures

P1, P2 = "127.0.0.11", "127.0.0.12"
MEMBER = f"fleet.test./p1/{P1}"


def dissent_of(instance, name: str) -> list[str]:
    rows = instance.http("/api/v1/fleet")[1]["instances"]
    return next(row["dissent"] for row in rows if row["instance"] == name)


def test_one_instance_failing_a_backend_is_outvoted(fleet, backends) -> None:
    instances, _ = fleet
    _a, _b, c = instances
    p1 = backends[0]
    assert f"geodns/{__version__} (c)" in p1.agents  # probes say who sends them
    p1.fail_for = {"c"}
    wait_for(lambda: c.app.board.own_verdicts()[("fleet.test.", "p1", P1)] == "down", 5)
    for viewer in instances:  # every instance sees c's dissent
        wait_for(lambda v=viewer: dissent_of(v, "c") == [MEMBER], 5)
        assert dissent_of(viewer, "a") == [] and dissent_of(viewer, "b") == []
    assert all(i.answer() == [P1] for i in instances)  # c too: outvoted 2 to 1
    status = c.http("/api/v1/status")[1]
    p1_row = status["zones"][0]["pools"][0]["members"][0]
    assert p1_row["up"] and p1_row["probe"] == "down"  # its own probes say down
    assert p1_row["state"] == "up"  # the fleet's word, as /metrics says it
    report = c.http("/api/v1/explain?name=www.fleet.test&client=192.0.2.1")[1]
    assert report["health"] == [
        {
            "address": P1,
            "up": True,
            "why": "fleet quorum: 1 of 3 fresh instances see it down (2 needed, quorum majority)",
        }
    ]


def test_a_backend_down_for_all_fails_over_everywhere_in_time(fleet, backends) -> None:
    instances, _ = fleet
    assert all(i.answer() == [P1] for i in instances)
    backends[0].down = True
    start = time.monotonic()
    for instance in instances:
        wait_for(lambda i=instance: i.answer() == [P2], 5)
    took = time.monotonic() - start
    assert took <= 2 * 0.2 + 2.0, f"fail-over took {took:.2f}s"  # fall x interval + 2 s
    backends[0].down = False
    for instance in instances:
        wait_for(lambda i=instance: i.answer() == [P1], 5)
