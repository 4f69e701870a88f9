"""A bus no one can forge: an anonymous client on an unauthenticated nats-server writes a
replayed drain, heartbeats from the future, a lower serial and junk; no answer changes, no
serial goes down, and every refusal is counted by reason."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import nats

from geodns.fleet.seal import SHIFT, seal
from tests.e2e.fleetkit import BUS_KEY, Instance, wait_for

pytest_plugins = ["tests.e2e.fleetkit"]

DR = "/api/v1/pools/fleet.test./dr/members/{}/{}"
ALL = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]
DRAIN_KEY = "drain.fleet=2etest=2e=09dr=09127=2e0=2e0=2e21"
SERIAL_KEY = "serial.fleet=2etest=2e"


def on_bucket(url: str, job: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `job(kv)` as an anonymous client of the bucket (no key, no credentials)."""

    async def run() -> Any:
        nc = await nats.connect(url)
        try:
            return await job(await nc.jetstream().key_value("geodns"))
        finally:
            await nc.close()

    return asyncio.run(run())


def rejected(instance: Instance) -> dict[str, float]:
    host, port = instance.app.http_bound
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = re.findall(r'geodns_fleet_rejected_total\{reason="(\w+)"\} (\S+)', text)
    return {reason: float(value) for reason, value in found}


def heartbeat(name: str, at: float, state: str) -> bytes:
    """What a real instance publishes, every member `state`."""
    rows = [["fleet.test.", pool, addr, state] for pool, addr in (("p1", "127.0.0.11"),)]
    body = {"instance": name, "version": "9", "generation": "x", "at": at, "bus": "joined"}
    return json.dumps({**body, "verdicts": rows}).encode()


def test_forged_replayed_and_future_entries_change_nothing(fleet, nats_server) -> None:
    instances, _ = fleet
    a, b, _ = instances
    assert a.http(DR.format("127.0.0.21", "drain"), "POST")[0] == 200
    for i in instances:
        wait_for(lambda i=i: i.answer("drained.fleet.test.") == ALL[1:], 3)
    old_drain = on_bucket(nats_server.url, lambda kv: kv.get(DRAIN_KEY)).value
    assert b.http(DR.format("127.0.0.21", "undrain"), "POST")[0] == 200
    for i in instances:
        wait_for(lambda i=i: i.answer("drained.fleet.test.") == ALL, 3)
    serials = [i.serial() for i in instances]
    assert len(set(serials)) == 1

    future = int((time.time() + 3600) * 1000) << SHIFT
    now = int(time.time() * 1000) << SHIFT

    async def forge(kv: Any) -> None:
        await kv.put(DRAIN_KEY, old_drain)  # a replay: signed, but older than the undrain
        for n in range(3):  # a signed heartbeat dated an hour ahead (a skewed insider)
            down = heartbeat(f"evil{n}", time.time() + 3600, "down")
            await kv.put(
                f"inst.evil{n}", seal(BUS_KEY.encode(), f"inst.evil{n}", down, f"evil{n}", future)
            )
            await kv.put(f"inst.anon{n}", heartbeat(f"anon{n}", time.time(), "down"))  # unsigned
        wrong = seal(
            b"not-the-fleet-key-at-all",
            "inst.mallory",
            heartbeat("mallory", 0, "down"),
            "mallory",
            now,
        )
        await kv.put("inst.mallory", wrong)
        body = json.dumps({"serials": {"f" * 64: 1}, "top": 1}).encode()
        await kv.put(SERIAL_KEY, body)  # a lower serial, unsigned
        await kv.put("drain.junk", b"\x00\xffnot json at all")

    on_bucket(nats_server.url, forge)

    def counted(i: Instance) -> bool:
        n = dict.fromkeys(("replay", "future", "unsigned", "bad_mac"), 0.0) | rejected(i)
        return n["replay"] >= 1 and n["future"] >= 3 and n["unsigned"] >= 5 and n["bad_mac"] >= 1

    try:  # every forgery reaches every watch (seconds on a loaded machine)
        wait_for(lambda: all(counted(i) for i in instances), 20)
    except AssertionError as exc:
        raise AssertionError(f"rejections: {[dict(rejected(i)) for i in instances]}") from exc
    for i in instances:  # a reload agrees the serials again: never lower than before
        assert i.server is not None
        i.server.call(i.app.reload)
    time.sleep(1.0)  # let the forged votes have every chance to count
    for i, serial in zip(instances, serials, strict=True):
        assert i.answer("drained.fleet.test.") == ALL  # the replayed drain did not come back
        assert i.answer() == ["127.0.0.11"]  # the forged down votes did not fail p1
        assert i.serial() >= serial
        assert i.http("/api/v1/status")[1]["fleet"]["instances"] == 3
    # the bucket was healed: the undrain is what it holds again
    healed = on_bucket(nats_server.url, lambda kv: kv.get(DRAIN_KEY)).value
    assert healed != old_drain and b'"drained":false' in healed
