"""The fleet's view: three instances, one serial and one generation; a content change gives a
new serial everywhere; an instance with other zones shows another generation."""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path

from tests.e2e.fleetkit import Instance, all_joined, zone_text
from tests.servers import wait_for

pytest_plugins = ["tests.e2e.fleetkit"]  # the nats_server, backends and fleet fixtures


def test_one_serial_whatever_the_file_times_and_a_new_one_everywhere(fleet, backends) -> None:
    instances, _ = fleet
    first = {i.serial() for i in instances}
    assert len(first) == 1  # copies written a day apart: one serial
    changed = zone_text(backends[0].port, backends[1].port, "  new: {A: 192.0.2.7}\n")
    for age, instance in zip((5.0, 500.0, 0.0), instances, strict=True):
        instance.write_zone(changed, age)
        assert instance.server.call(instance.app.reload)
    after = {i.serial() for i in instances}
    # agreed on the bus: one above, once (a's claim; b's and c's are passed over), with no
    # renumbering by a claim agreed on a table a reload was replacing (seen: +5)
    assert after == {next(iter(first)) + 1}


def test_fleet_lists_three_instances_with_one_generation(fleet, tmp_path: Path) -> None:
    instances, _ = fleet
    status, body = instances[0].http("/api/v1/fleet")
    assert status == 200
    rows = {row["instance"]: row for row in body["instances"]}
    assert set(rows) == {"a", "b", "c"}
    assert len({row["generation"] for row in rows.values()}) == 1
    assert all(row["bus"] == "joined" and row["dissent"] == [] for row in rows.values())
    assert all(row["last_heard"].endswith("+00:00") for row in rows.values())


def test_an_instance_with_other_zones_shows_another_generation(
    fleet, backends, nats_server, tmp_path: Path
) -> None:
    instances, _ = fleet
    other = zone_text(backends[0].port, backends[1].port, "  extra: {A: 192.0.2.99}\n")
    d = Instance(tmp_path, "d", nats_server.url, other, 0.0).start()
    try:
        wait_for(lambda: all_joined([*instances, d], 4), 10)
        rows = {r["instance"]: r for r in instances[0].http("/api/v1/fleet")[1]["instances"]}
        assert set(rows) == {"a", "b", "c", "d"}
        same = {rows[n]["generation"] for n in "abc"}
        assert len(same) == 1 and rows["d"]["generation"] not in same
        metrics = http_text(d, "/metrics")
        assert 'geodns_fleet_instances{state="joined"} 4.0' in metrics
        assert f'geodns_config_generation_info{{generation="{rows["d"]["generation"]}"}} 1.0' in (
            metrics
        )
    finally:
        d.stop()


def http_text(instance: Instance, path: str) -> str:
    host, port = instance.app.http_bound
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as resp:
        return resp.read().decode()


def test_a_restarted_instance_starts_warm_from_its_last_verdicts(fleet, backends, caplog) -> None:
    instances, _ = fleet
    c = instances[2]
    caplog.set_level(logging.INFO, logger="geodns.fleet")
    backends[0].fail_for = {"c"}
    wait_for(lambda: c.app.board.own_verdicts()[("fleet.test.", "p1", "127.0.0.11")] == "down")
    c.stop()
    c.start()
    assert "warm start from the bus: 2 verdicts" in caplog.text
    assert c.answer() == ["127.0.0.11"]  # the quorum of a and b, from the first query
