"""What one instance is told reaches all: measured RTTs POSTed to one instance are applied
by every instance; a drain with ?expires= lapses everywhere; explain names the quorum rule."""

from __future__ import annotations

import json
import urllib.request

from tests.e2e.fleetkit import TOKEN, Instance, wait_for

pytest_plugins = ["tests.e2e.fleetkit"]

DR = "/api/v1/pools/fleet.test./dr/members/{}/{}"
ALL = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]


def post_json(instance: Instance, path: str, body: object) -> tuple[int, dict]:
    host, port = instance.app.http_bound
    req = urllib.request.Request(
        f"http://{host}:{port}{path}", data=json.dumps(body).encode(), method="POST"
    )
    req.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


def rtt_counts(instance: Instance) -> dict:
    return instance.http("/api/v1/status")[1]["steering"]["rtt"]


def test_measured_rtts_posted_to_one_instance_reach_every_instance(fleet) -> None:
    instances, _ = fleet
    b, c = instances[1], instances[2]
    batch = [
        {"client": "81.2.69.0/24", "pool": "p1", "rtt_ms": 23.5},
        {"client": "country:GB", "pool": "p2", "rtt_ms": 40},
    ]
    status, body = post_json(b, "/api/v1/rtt/fleet.test.", batch)
    assert status == 200 and body["accepted"] == 2 and body["shared"] == "fleet"
    want = {"fleet.test.": {"measurements": 2, "by_kind": {"network": 1, "country": 1}}}
    for instance in instances:
        wait_for(lambda i=instance: rtt_counts(i) == want, 3)
    c.stop()
    c.start()  # kept across a restart (state_dir), the bucket's old batch not counted again
    assert rtt_counts(c) == want


def test_a_drain_with_expires_lapses_everywhere_and_explain_names_the_rule(fleet) -> None:
    instances, _ = fleet
    a = instances[0]
    status, body = a.http(DR.format("127.0.0.22", "drain") + "?expires=2s&reason=reboot", "POST")
    assert status == 200 and body["expires"] is not None
    for instance in instances:
        wait_for(lambda i=instance: i.answer("drained.fleet.test.") == ["127.0.0.21", "127.0.0.23"])
        rows = instance.http("/api/v1/drains")[1]["drains"]
        assert [(r["address"], r["expires"], r["reason"]) for r in rows] == [
            ("127.0.0.22", body["expires"], "reboot")
        ]
    for instance in instances:
        wait_for(lambda i=instance: i.answer("drained.fleet.test.") == ALL, 5)
        assert instance.http("/api/v1/drains")[1] == {"drains": []}
    assert a.http(DR.format("127.0.0.22", "drain") + "?expires=soon", "POST")[0] == 400
    report = a.http("/api/v1/explain?name=www.fleet.test&client=192.0.2.1")[1]
    assert "(2 needed, quorum majority)" in report["health"][0]["why"]


def test_a_rejoin_reloads_no_zone_whose_content_did_not_change(fleet) -> None:
    instances, proxy = fleet
    c = instances[2]
    reloads, joins = c.app.reloads.ok, c.app.fleet.joins
    proxy.cut()
    wait_for(lambda: c.fleet_state() == "degraded", 10)
    proxy.mend()
    wait_for(lambda: c.app.fleet.joins == joins + 1, 15)
    wait_for(lambda: not c.app._background, 5)  # the serials were agreed again
    assert c.app.reloads.ok == reloads
