"""Losing the bus is never worse than having none: NATS stopped, every instance keeps
answering (from its own probes, `degraded`) and rejoins when it is back; one instance cut off
alone falls back while the other two keep their quorum."""

from __future__ import annotations

import threading
import time

from tests.e2e.fleetkit import all_joined
from tests.servers import wait_for

pytest_plugins = ["tests.e2e.fleetkit"]  # the nats_server, backends and fleet fixtures

P1, P2 = "127.0.0.11", "127.0.0.12"


class Asker(threading.Thread):
    """Queries every instance in turn for `seconds`, counting what fails or comes back empty."""

    def __init__(self, instances, seconds: float) -> None:
        super().__init__(daemon=True)
        self.instances, self.seconds = instances, seconds
        self.asked = self.failed = 0

    def run(self) -> None:
        end = time.monotonic() + self.seconds
        while time.monotonic() < end:
            for instance in self.instances:
                self.asked += 1
                try:
                    if not instance.answer():
                        self.failed += 1
                except Exception:
                    self.failed += 1
            time.sleep(0.02)


def test_nats_stopped_then_back(fleet, backends, nats_server) -> None:
    instances, _ = fleet
    a, b, c = instances
    backends[0].fail_for = {"c"}  # only c's probes of p1 fail
    wait_for(lambda: c.app.board.own_verdicts()[("fleet.test.", "p1", P1)] == "down", 5)
    assert c.answer() == [P1]  # outvoted while joined
    nats_server.stop()
    asker = Asker(instances, 10.0)
    asker.start()
    for instance in instances:
        wait_for(lambda i=instance: i.fleet_state() == "degraded", 5)
    wait_for(lambda: c.answer() == [P2], 3)  # each follows its own probes now
    assert a.answer() == [P1] and b.answer() == [P1]
    asker.join()
    assert asker.asked > 300 and asker.failed == 0
    nats_server.start()  # the same port and store
    start = time.monotonic()
    wait_for(lambda: all_joined(instances), 10)
    assert time.monotonic() - start < 10
    wait_for(lambda: c.answer() == [P1], 3)  # outvoted again


def test_one_instance_cut_off_falls_back_the_others_keep_their_quorum(fleet, backends) -> None:
    instances, proxy = fleet
    a, b, c = instances
    backends[0].fail_for = {"c"}
    wait_for(lambda: c.app.board.own_verdicts()[("fleet.test.", "p1", P1)] == "down", 5)
    proxy.cut()
    wait_for(lambda: c.fleet_state() == "degraded", 5)
    wait_for(lambda: c.answer() == [P2], 3)
    for instance in (a, b):  # c goes stale after stale_after (2 s); the two still vote
        wait_for(lambda i=instance: all_joined([i], 2), 6)
        assert instance.answer() == [P1]
    rows = {r["instance"]: r for r in a.http("/api/v1/fleet")[1]["instances"]}
    assert rows["c"]["bus"] == "degraded" and rows["b"]["bus"] == "joined"
    proxy.mend()
    wait_for(lambda: all_joined(instances), 10)
    wait_for(lambda: c.answer() == [P1], 3)
