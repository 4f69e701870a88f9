"""Serials that only grow: a rollback, a reload off the bus, the bucket deleted and made
again, and 50 racing reloads of two contents on a replicated bucket. Every instance's
serial only grows, and no serial ever names two contents."""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil
import threading
from pathlib import Path
from typing import Any

import nats
import nats.js.errors

from tests.e2e.fleetkit import Instance, all_joined, wait_for, zone_text
from tests.e2e.natscluster import secure_fleet

pytest_plugins = ["tests.e2e.fleetkit", "tests.e2e.natscluster"]


def served(instance: Instance) -> tuple[int, str]:
    """The serial and content hash the instance's table answers from right now."""
    zone = next(iter(instance.app.table.zones.values())).zone
    return zone.serial, zone.content_hash


class Watch:
    """Samples every instance's (serial, content) until stopped: each instance's serials in
    order, and every content each serial was seen with."""

    def __init__(self, instances: list[Instance]) -> None:
        self.instances, self.stop_flag = instances, threading.Event()
        self.seen: dict[str, list[int]] = {i.name: [] for i in instances}
        self.contents: dict[int, set[str]] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop_flag.is_set():
            self.sample()
            self.stop_flag.wait(0.01)

    def sample(self) -> None:
        for instance in self.instances:
            if instance.server is None:
                continue
            serial, content = served(instance)
            self.seen[instance.name].append(serial)
            self.contents.setdefault(serial, set()).add(content)

    def check(self) -> None:
        self.stop_flag.set()
        self.thread.join(5)
        self.sample()
        for name, serials in self.seen.items():
            drops = [(a, b) for a, b in itertools.pairwise(serials) if b < a]
            assert not drops, f"{name}: serial went down {drops[:3]}"
        shared = {s: c for s, c in self.contents.items() if len(c) > 1}
        assert not shared, f"serials naming two contents: {shared}"


def reload_all(instances: list[Instance], text: str) -> None:
    for instance in instances:
        instance.write_zone(text, 0.0)
        assert instance.server is not None
        instance.server.call(instance.app.reload)


def one_serial(instances: list[Instance]) -> int:
    serials = {served(i) for i in instances}
    assert len(serials) == 1, serials
    return serials.pop()[0]


def test_serials_grow_through_rollback_partition_and_a_new_bucket(fleet, backends, nats_server):
    instances, proxy = fleet
    c = instances[2]
    ports = backends[0].port, backends[1].port
    v1, v2 = zone_text(*ports), zone_text(*ports, "  v2: {A: 192.0.2.2}\n")
    watch = Watch(instances)
    s1 = one_serial(instances)
    reload_all(instances, v2)
    s2 = one_serial(instances)
    reload_all(instances, v1)  # a rollback: the old content gets a new, larger serial
    s3 = one_serial(instances)
    assert s1 < s2 < s3

    proxy.cut()
    wait_for(lambda: c.fleet_state() == "degraded", 10)
    reload_all([c], zone_text(*ports, "  v3: {A: 192.0.2.3}\n"))  # off the bus
    assert served(c)[0] > s3
    proxy.mend()
    wait_for(lambda: c.fleet_state() == "joined", 15)

    async def bucket(delete: bool) -> bool:
        nc = await nats.connect(nats_server.url)
        try:
            if delete:
                return await nc.jetstream().delete_key_value("geodns")
            await nc.jetstream().key_value("geodns")
            return True
        except nats.js.errors.BucketNotFoundError:
            return False
        finally:
            await nc.close()

    top = max(served(i)[0] for i in instances)
    assert asyncio.run(bucket(delete=True))
    wait_for(lambda: asyncio.run(bucket(delete=False)), 10)  # a write found it gone: made again
    wait_for(lambda: all_joined(instances), 20)
    reload_all(instances, zone_text(*ports, "  v4: {A: 192.0.2.4}\n"))
    wait_for(lambda: len({served(i) for i in instances}) == 1, 10)
    assert one_serial(instances) > top
    watch.check()


def claim_keys(url: str) -> list[str]:
    """The serial claim keys the bucket holds (read as an anonymous client)."""

    async def read() -> list[str]:
        nc = await nats.connect(url)
        try:
            keys = await (await nc.jetstream().key_value("geodns")).keys()
            return sorted(k for k in keys if k.startswith("serial."))
        finally:
            await nc.close()

    return asyncio.run(read())


def test_many_reloads_leave_a_bounded_number_of_claims(fleet, backends, nats_server) -> None:
    instances, _ = fleet
    a, c = instances[0], instances[2]
    ports = backends[0].port, backends[1].port
    v1, v2 = zone_text(*ports), zone_text(*ports, "  v2: {A: 192.0.2.2}\n")
    watch = Watch(instances)
    first = one_serial(instances)
    for n in range(48):  # each one a claim: new content, then a rollback, and so on
        reload_all([a], v2 if n % 2 == 0 else v1)
    wait_for(lambda: len({served(i) for i in instances}) == 1, 10)
    last = one_serial(instances)
    assert last >= first + 48  # every reload moved the serial up
    keys = claim_keys(nats_server.url)
    assert 1 <= len(keys) <= 16 + 2, keys  # COMPACT_AFTER claims and a checkpoint or two

    c.stop()  # c forgets every serial it kept: the checkpoint and later claims give it
    shutil.rmtree(c.dir / "state")
    c.start()
    wait_for(lambda: all_joined(instances), 20)
    assert served(c) == served(a) and served(c)[0] == last
    watch.check()


def test_racing_reloads_on_a_replicated_bucket(tmp_path: Path, nats_cluster, backends) -> None:
    instances = secure_fleet(tmp_path, nats_cluster, backends)
    for instance in instances:
        instance.start()
    try:
        wait_for(lambda: all_joined(instances), 20)
        ports = backends[0].port, backends[1].port
        texts = [zone_text(*ports, "  ab: {A: 192.0.2.10}\n"), zone_text(*ports)]
        watch = Watch(instances)
        rng = random.Random(20)

        def race(instance: Instance, picks: list[int]) -> None:
            for pick in picks:
                reload_all([instance], texts[pick])

        picks = {i.name: [rng.randrange(2) for _ in range(50)] for i in instances}
        threads = [threading.Thread(target=race, args=(i, picks[i.name])) for i in instances]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        reload_all(instances, texts[0])
        wait_for(lambda: len({served(i) for i in instances}) == 1, 10)
        watch.check()
        assert len(watch.contents) >= 3  # the race really moved the serial
    finally:
        for instance in instances:
            instance.stop()


__all__: list[Any] = []
