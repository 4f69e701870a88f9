"""Zone content on the fleet bus: one write answered by all, refusals change nothing, CAS,
restarts with nothing on disk, rollback, and 503 off the bus (real nats-server)."""

from __future__ import annotations

import json
import threading
import time

from tests.e2e.fleetzones import Member, start_all
from tests.e2e.zonekit import ZONE_TEXT, answers, call, rrset_patch
from tests.servers import wait_for

pytest_plugins = ["tests.e2e.fleetzones"]  # the nats and trio fixtures


def _all_serve(members: list[Member], name: str, want: list[str], serial: int) -> bool:
    for m in members:
        assert m.server is not None
        if answers(m.server, name)[1] != want or m.serial() != serial:
            return False
    return True


def test_patch_reaches_all_refusals_change_nothing_and_if_match(trio: list[Member]) -> None:
    a, b, c = trio
    assert b.served_version() == a.served_version() == c.served_version() is not None
    assert len({m.serial() for m in trio}) == 1  # b and c got the zone from the bus

    status, body, _ = a.api("PATCH", "", rrset_patch("new.api.test.", "A", ["192.0.2.7"]))
    assert status == 200, body
    written = time.monotonic()
    wait_for(lambda: _all_serve(trio, "new.api.test.", ["192.0.2.7"], body["serial"]), 2.0)
    took = time.monotonic() - written
    assert took < 2.0
    assert all(m.served_version() == body["version"] for m in trio)

    history = a.api("GET", "/history")[1]["versions"]
    bad = {"pools": {"eu": {"addresses": ["192.0.2.10", "not-an-address"]}}}
    status, refused, _ = b.api("PATCH", "", bad)
    assert status == 422
    assert refused["problems"][0]["path"] == "pools.eu.addresses[1]"
    assert a.api("GET", "/history")[1]["versions"] == history  # nothing reached the bus
    for m in trio:
        assert m.served_version() == body["version"] and m.serial() == body["serial"]
        assert m.api("GET", "")[1]["pools"]["eu"]["addresses"] == ["192.0.2.10", "192.0.2.11"]

    move = {"records": {"www": {"geo": {"continent:EU": "us", "default": "us"}}}}
    status, preview, _ = c.api("PATCH", "?dry_run=true", move)
    assert status == 200, preview
    moved = [(r["name"], r["from"], r["to"]) for r in preview["routing"]]
    assert set(moved) == {("www.api.test.", "eu", "us")} and len(moved) == 2  # v4 and v6
    assert all(r["count"] > 0 and r["ranges"] for r in preview["routing"])
    assert all(m.served_version() == body["version"] for m in trio)  # a dry run applies nothing

    etag = a.api("GET", "")[2]["ETag"]
    results: list[int] = []

    def write(member: Member, address: str) -> None:
        patch = rrset_patch("race.api.test.", "A", [address])
        results.append(member.api("PATCH", "", patch, headers={"If-Match": etag})[0])

    racers = [
        threading.Thread(target=write, args=(m, f"192.0.2.{i + 100}")) for i, m in enumerate((a, b))
    ]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert sorted(results) == [200, 412]


def test_restart_with_nothing_on_disk_then_rollback_and_off_bus(trio: list[Member], nats) -> None:
    a, b, c = trio
    first = a.api("GET", "/history")[1]["versions"][0]
    status, body, _ = a.api("PATCH", "", rrset_patch("later.api.test.", "A", ["192.0.2.8"]))
    assert status == 200
    wait_for(lambda: _all_serve(trio, "later.api.test.", ["192.0.2.8"], body["serial"]), 2.0)

    for m in trio:
        m.stop()
        m.wipe()  # zones_dir and state_dir/zones: nothing left on disk to serve from
    start_all(trio)
    for m in trio:
        assert m.server is not None
        assert answers(m.server, "later.api.test.")[1] == ["192.0.2.8"]
        assert m.serial() == body["serial"] and m.served_version() == body["version"]

    status, back, _ = c.api("POST", f"/rollback?to={first['version']}")
    assert status == 200, back
    assert back["serial"] > body["serial"]  # a new version: above every earlier serial
    began = time.monotonic()
    wait_for(lambda: all(answers(m.server, "later.api.test.")[0] == "NXDOMAIN" for m in trio), 2)
    wait_for(lambda: all(m.serial() == back["serial"] for m in trio), 2.0)
    assert time.monotonic() - began < 2.0
    assert a.api("GET", "/history")[1]["versions"][-1]["summary"].startswith(
        f"rollback to {first['version']}"
    )

    extra = ZONE_TEXT.replace("api.test.", "extra.test.")
    status, made, _ = call(
        b.addr,
        "PUT",
        "/api/v1/zones/extra.test.",
        raw=extra.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert status == 200, made
    wait_for(lambda: all(answers(m.server, "www.extra.test.")[0] == "NOERROR" for m in trio), 2)
    assert call(a.addr, "DELETE", "/api/v1/zones/extra.test.")[0] == 200
    wait_for(lambda: all(answers(m.server, "www.extra.test.")[0] == "REFUSED" for m in trio), 2)
    history = call(c.addr, "GET", "/api/v1/zones/extra.test./history")[1]["versions"]
    assert [v["summary"] for v in history] == ["PUT: zone created", "DELETE: zone deleted"]

    nats.stop()  # off the bus: last versions keep serving, writes are refused
    wait_for(lambda: a.api("PATCH", "", {"records": {"x": None}})[0] == 503, 10)
    for m in trio:
        assert m.server is not None and answers(m.server, "www.api.test.")[0] == "NOERROR"
        assert m.serial() == back["serial"]
    b.stop()
    b.start()  # restarted with no bus: the versions kept in state_dir, served
    assert b.server is not None and answers(b.server, "www.api.test.")[0] == "NOERROR"
    assert b.serial() == back["serial"] and b.served_version() == back["version"]
    assert answers(b.server, "www.extra.test.")[0] == "REFUSED"  # deleted stays deleted
    assert b.api("GET", "")[0] == 200 and b.api("PUT", "", {})[0] == 503


def _put_raw(url: str, key: str, value: bytes) -> None:
    """Write straight into the zones bucket, as a buggy or hostile writer on the bus would."""
    import asyncio

    import nats

    async def put() -> None:
        nc = await nats.connect(url)
        kv = await nc.jetstream().key_value("geodns-zones")
        await kv.put(key, value)
        await nc.close()

    asyncio.run(put())


def test_a_bad_entry_on_the_bus_is_not_served_and_blocks_nothing(trio: list[Member], nats) -> None:
    a, b, _ = trio
    version, serial = a.served_version(), a.serial()
    bad = {"zone": "api.test.", "ns": ["ns1.api.test."], "pools": {"eu": {"addresses": ["x"]}}}
    record = {"document": bad, "serial": serial + 1, "who": "?", "time": 0, "summary": "bad"}
    _put_raw(nats.url, "zone.api.test", json.dumps(record).encode())
    _put_raw(nats.url, "zone.api.test", b"\xff not json")
    _put_raw(nats.url, "zone.api.test", b'{"document": [1, 2], "serial": 7}')
    status, body, _ = b.api("PATCH", "", rrset_patch("after.api.test.", "A", ["192.0.2.9"]))
    assert status == 200, body  # a write on top of the garbage: the stored document was valid
    wait_for(lambda: _all_serve(trio, "after.api.test.", ["192.0.2.9"], body["serial"]), 2.0)
    assert body["serial"] > serial and body["version"] > version
    for m in trio:  # the write went on top of what was served, not of the bad document
        assert m.api("GET", "")[1]["pools"]["eu"]["addresses"] == ["192.0.2.10", "192.0.2.11"]
        assert m.server is not None and answers(m.server, "www.api.test.")[0] == "NOERROR"
