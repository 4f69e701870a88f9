"""Zone documents no one can forge: an anonymous client on an unauthenticated nats-server
writes a forged document, junk, replays of sealed versions and a version dated an hour
ahead into the zones bucket; no answer changes anywhere, the zone API's history is the
same, each refusal is counted by reason, an instance starting afresh serves the newest
sound version, and the next write through the API goes on top (real nats-server)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from typing import Any

import nats as nats_client

from geodns.fleet.seal import SHIFT, seal, unseal
from tests.e2e.fleetkit import BUS_KEY
from tests.e2e.fleetzones import Member, start_all
from tests.e2e.zonekit import ZONE_TEXT, answers, rrset_patch
from tests.servers import wait_for

pytest_plugins = ["tests.e2e.fleetzones"]  # the nats and trio fixtures

KEY = "zone.api.test"  # zone api.test. in bucket geodns-zones
NAMES = ("www.api.test.", "static.api.test.", "new.api.test.")


def rejected(member: Member) -> dict[str, float]:
    host, port = member.addr
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = re.findall(r'geodns_fleet_rejected_total\{reason="(\w+)"\} (\S+)', text)
    return {reason: float(value) for reason, value in found}


def seen(member: Member) -> tuple[Any, ...]:
    """Everything a forgery could change on one instance: answers, serial, version, history."""
    assert member.server is not None
    said = tuple(answers(member.server, name) for name in NAMES)
    history = member.api("GET", "/history")[1]["versions"]
    return said, member.serial(), member.served_version(), history


def forge(url: str) -> None:
    """As anyone who can reach the bus: replays, junk, a forged and a future version."""

    async def run() -> None:
        nc = await nats_client.connect(url)
        try:
            kv = await nc.jetstream().key_value("geodns-zones")
            versions = await kv.history(KEY)
            first, last = versions[0].value, versions[-1].value
            record = json.loads(unseal(BUS_KEY.encode(), KEY, last).value)
            record["document"]["records"]["static"] = {"A": ["203.0.113.66"]}
            record["serial"] += 100
            body = json.dumps(record).encode()
            now = int(time.time() * 1000) << SHIFT
            future = int((time.time() + 3600) * 1000) << SHIFT
            await kv.put(KEY, first)  # replay: a sealed version older than the one served
            await kv.put(KEY, last)  # replay: the served version again, at a new revision
            await kv.put(KEY, b"\x00\xff not a zone at all")  # junk: unsigned
            await kv.put(KEY, body)  # a plain JSON document (as before sealing): unsigned
            await kv.put(KEY, seal(b"not-the-fleet-key", KEY, body, "a", now))  # bad_mac
            await kv.put(KEY, seal(BUS_KEY.encode(), KEY, body, "a", future))  # future
            await kv.put("zone.=zz-not-hex", b"junk under a key that names no zone")
        finally:
            await nc.close()

    asyncio.run(run())


def test_forged_junk_replayed_and_future_zone_documents_change_nothing(
    trio: list[Member], nats
) -> None:
    a, b, c = trio
    status, body, _ = a.api("PATCH", "", rrset_patch("new.api.test.", "A", ["192.0.2.7"]))
    assert status == 200, body
    wait_for(lambda: all(m.served_version() == body["version"] for m in trio), 5)
    wait_for(lambda: all(m.serial() == body["serial"] for m in trio), 5)
    before = [seen(m) for m in trio]
    assert before[0][0][1] == ("NOERROR", ["192.0.2.1"])  # static.api.test., hand-written
    assert [v["version"] for v in before[0][3]][-1] == body["version"]

    forge(nats.url)

    def counted(m: Member) -> bool:
        n = rejected(m)
        return n["replay"] >= 2 and n["unsigned"] >= 2 and n["bad_mac"] >= 1 and n["future"] >= 1

    wait_for(lambda: all(counted(m) for m in trio), 5)
    for m, was in zip(trio, before, strict=True):
        assert seen(m) == was  # answers, serial, version served and the history: unchanged

    b.stop()  # b starts afresh: the bucket's last entry is a forgery, its history is not
    b.wipe()
    b.start()
    wait_for(lambda: b.serial() is not None, 15)
    assert seen(b) == before[1]

    status, after, _ = c.api("PATCH", "", rrset_patch("later.api.test.", "A", ["192.0.2.8"]))
    assert status == 200, after  # written on top of the forgeries, above every serial
    assert after["serial"] > body["serial"] and after["version"] > body["version"]
    wait_for(lambda: all(answers(m.server, "later.api.test.")[1] == ["192.0.2.8"] for m in trio), 5)
    history = a.api("GET", "/history")[1]["versions"]
    assert history[:-1] == before[0][3] and history[-1]["version"] == after["version"]
    for m in trio:
        assert m.server is not None and answers(m.server, "static.api.test.")[1] == ["192.0.2.1"]


def test_a_zone_holding_only_forgeries_is_seeded_from_files(tmp_path, nats) -> None:
    """Before any instance starts, an anonymous client fills the zone's key with a plain
    document and junk: the instance with the seed file seeds over them, every instance
    serves the seed, and the history lists only the seed."""
    server = nats  # the fixture (a NatsServer), not the client library

    async def plant() -> None:
        nc = await nats_client.connect(server.url)
        try:
            js = nc.jetstream()
            kv = await js.create_key_value(bucket="geodns-zones", history=64)
            doc = {"zone": "api.test.", "ns": ["ns1.api.test."], "records": {}}
            forged = {"document": doc, "serial": 9, "who": "x", "time": 0, "summary": "x"}
            await kv.put(KEY, json.dumps(forged).encode())
            await kv.put(KEY, b"junk")
        finally:
            await nc.close()

    asyncio.run(plant())
    members = [Member(tmp_path, n, server.url, ZONE_TEXT if n == "a" else None) for n in "abc"]
    try:
        start_all(members)
        for m in members:
            assert m.server is not None
            assert answers(m.server, "static.api.test.")[1] == ["192.0.2.1"]
            assert [v["summary"][:11] for v in m.api("GET", "/history")[1]["versions"]] == [
                "seeded from"
            ]
        assert rejected(members[0])["unsigned"] >= 1  # the junk (the last entry, first read)
    finally:
        for m in members:
            m.stop()
