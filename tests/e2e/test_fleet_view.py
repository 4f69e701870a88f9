"""The fleet's view: three instances, one serial and one generation; a content change gives a
new serial everywhere; an instance with other zones shows another generation."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.fleetkit import zone_text

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
    assert len(after) == 1 and after != first
    assert next(iter(after)) > next(iter(first))  # agreed on the bus: only growing


def test_fleet_lists_three_instances_with_one_generation(fleet, tmp_path: Path) -> None:
    instances, _ = fleet
    status, body = instances[0].http("/api/v1/fleet")
    assert status == 200
    rows = {row["instance"]: row for row in body["instances"]}
    assert set(rows) == {"a", "b", "c"}
    assert len({row["generation"] for row in rows.values()}) == 1
    assert all(row["bus"] == "joined" and row["dissent"] == [] for row in rows.values())
    assert all(row["last_heard"].endswith("+00:00") for row in rows.values())
