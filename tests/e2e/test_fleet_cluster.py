"""A replicated bus: three geodns instances on a three-node JetStream cluster (TLS both
ways, the GEODNS account's user, signed entries, a bucket of three replicas). The node that
leads the bucket's stream is killed and restarted: drains, serials and agreement hold, and
no instance stays degraded."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.fleetkit import Instance, all_joined, wait_for, zone_text
from tests.e2e.natscluster import secure_fleet

pytest_plugins = ["tests.e2e.fleetkit", "tests.e2e.natscluster"]

DR = "/api/v1/pools/fleet.test./dr/members/{}/{}"
ALL = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]
STORED = ("fleet", "pending")  # pending: written to the bucket once it answers again


def agreed(instances: list[Instance], drained: list[str]) -> bool:
    answers = {tuple(i.answer("drained.fleet.test.")) for i in instances}
    serials = {i.serial() for i in instances}
    return answers == {tuple(drained)} and len(serials) == 1


def test_killing_the_stream_leader_loses_nothing(tmp_path: Path, nats_cluster, backends) -> None:
    instances = secure_fleet(tmp_path, nats_cluster, backends)
    for instance in instances:
        instance.start()
    try:
        wait_for(lambda: all_joined(instances), 45)
        a, b, c = instances
        assert a.http(DR.format("127.0.0.21", "drain"), "POST")[1]["stored"] == "fleet"
        wait_for(lambda: agreed(instances, ALL[1:]), 30)
        before = a.serial()

        leader = nats_cluster.leader()
        leader.kill()
        # writes go on (at once, or as soon as a new leader is elected): undrain, drain
        assert b.http(DR.format("127.0.0.21", "undrain"), "POST")[1]["stored"] in STORED
        wait_for(lambda: c.answer("drained.fleet.test.") == ALL, 45)
        assert c.http(DR.format("127.0.0.23", "drain"), "POST")[1]["stored"] in STORED
        extra = zone_text(backends[0].port, backends[1].port, "  extra: {A: 192.0.2.7}\n")
        for instance in instances:
            instance.write_zone(extra, 0.0)
            assert instance.server is not None
            instance.server.call(instance.app.reload)
        wait_for(lambda: all_joined(instances), 45)
        wait_for(lambda: agreed(instances, ALL[:2]), 30)
        during = a.serial()
        assert during > before

        leader.start()
        wait_for(lambda: all_joined(instances), 45)
        wait_for(lambda: agreed(instances, ALL[:2]), 30)
        # every instance agrees (agreed() above) and the content keeps its number: a claim
        # delayed through the election, ordered after it, must not renumber it
        assert a.serial() == during
        for instance in instances:
            status = instance.http("/api/v1/status")[1]["fleet"]
            assert status == {"state": "joined", "instances": 3}
            drains = instance.http("/api/v1/drains")[1]["drains"]
            assert [d["address"] for d in drains] == ["127.0.0.23"]
    finally:
        for instance in instances:
            instance.stop()
