"""Drains are fleet-wide and persistent: on every instance within 2 s, kept across restarts
(in the bucket, or in state_dir without a fleet), guarded by min_healthy, behind the token."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.fleetkit import TOKEN, Instance, zone_text
from tests.servers import ServerThread, wait_for, write_config

pytest_plugins = ["tests.e2e.fleetkit"]  # the nats_server, backends and fleet fixtures

DR = "/api/v1/pools/fleet.test./dr/members/{}/{}"
ALL = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]


def post(instance, address: str, action: str, query: str = "", token: str | None = TOKEN):
    return instance.http(DR.format(address, action) + query, "POST", token)


def test_a_drain_reaches_every_instance_and_survives_a_restart(fleet) -> None:
    instances, _ = fleet
    a, b, c = instances
    status, body = post(a, "127.0.0.21", "drain", "?by=alice&reason=kernel+upgrade")
    assert status == 200 and body["by"] == "alice" and body["reason"] == "kernel upgrade"
    assert body["stored"] == "fleet"
    start = time.monotonic()
    for instance in instances:
        wait_for(lambda i=instance: i.answer("drained.fleet.test.") == ALL[1:], 2.0)
    assert time.monotonic() - start < 2.0
    b.stop()
    b.start()  # a restart: the drain comes back from the bucket
    assert b.answer("drained.fleet.test.") == ALL[1:]
    members = b.http("/api/v1/status")[1]["zones"][0]["pools"][2]["members"]
    assert [m["drained"] for m in members] == [True, False, False]
    report = c.http("/api/v1/explain?name=drained.fleet.test&client=192.0.2.1")[1]
    assert report["health"][0]["why"].startswith("drained by alice at ")


def test_min_healthy_refuses_unless_forced_and_the_token_is_needed(fleet) -> None:
    instances, _ = fleet
    a, b, c = instances
    assert post(a, "127.0.0.21", "drain", token=None)[0] == 401
    assert post(a, "127.0.0.21", "drain", token="wrong")[0] == 401
    assert post(a, "127.0.0.21", "drain")[0] == 200  # two of three left: min_healthy 2 holds
    for instance in instances:
        wait_for(lambda i=instance: i.answer("drained.fleet.test.") == ALL[1:], 2.0)
    status, body = post(b, "127.0.0.22", "drain", "?reason=oops")
    assert status == 409 and "below min_healthy 2" in body["error"]
    assert c.answer("drained.fleet.test.") == ALL[1:]  # nothing changed
    status, body = post(b, "127.0.0.22", "drain", "?force=true&reason=emergency")
    assert status == 200 and body["forced"]
    for instance in instances:
        wait_for(lambda i=instance: i.answer("drained.fleet.test.") == ALL[2:], 2.0)
    assert post(c, "127.0.0.22", "undrain")[0] == 200
    for instance in instances:
        wait_for(lambda i=instance: i.answer("drained.fleet.test.") == ALL[1:], 2.0)


def test_without_a_fleet_drains_are_kept_in_state_dir(tmp_path: Path, backends) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "fleet.test.yaml").write_text(zone_text(backends[0].port, backends[1].port))
    (tmp_path / "token").write_text(TOKEN)
    http = {"listen": "127.0.0.1:0", "token_file": str(tmp_path / "token")}
    config = write_config(tmp_path, zones, http=http, state_dir=str(tmp_path / "state"))
    alone = Instance.__new__(Instance)
    alone.server = ServerThread(config).start()
    try:
        status, body = post(alone, "127.0.0.23", "drain", "?reason=disk")
        assert status == 200 and body["stored"] == "state_dir"
        assert alone.http("/api/v1/status")[1]["fleet"] == {"state": "off", "instances": 1}
    finally:
        alone.server.stop()
    assert (tmp_path / "state" / "drains.json").exists()
    alone.server = ServerThread(config).start()
    try:
        assert alone.answer("drained.fleet.test.") == ALL[:2]
    finally:
        alone.server.stop()
