"""Drains that converge: a drain and an undrain made while cut off from the bucket, and drains
on both sides of a partition, end the same on every instance once healed: the newest record
of each member wins, and a merge that would break min_healthy keeps the newest drain back."""

from __future__ import annotations

from tests.e2e.fleetkit import Instance, wait_for

pytest_plugins = ["tests.e2e.fleetkit"]

DR = "/api/v1/pools/fleet.test./dr/members/{}/{}"
ALL = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]


def act(instance: Instance, address: str, action: str) -> tuple[int, dict]:
    return instance.http(DR.format(address, action) + f"?reason=by+{instance.name}", "POST")


def everywhere(instances: list[Instance], answer: list[str]) -> bool:
    return all(i.answer("drained.fleet.test.") == answer for i in instances)


def cut(proxy, c: Instance) -> None:
    proxy.cut()
    wait_for(lambda: c.fleet_state() == "degraded", 10)


def heal(proxy, instances: list[Instance]) -> None:
    """Mend and wait for every instance to be joined (the bus bounds a stuck session at
    10 s, its backoff at 5 s); says each one's fleet status if not."""
    proxy.mend()
    try:
        wait_for(lambda: all(i.fleet_state() == "joined" for i in instances), 25)
    except AssertionError as exc:
        states = {i.name: (i.http("/api/v1/status")[1]["fleet"], inside(i)) for i in instances}
        raise AssertionError(f"not all joined: {states}") from exc


def inside(instance: Instance) -> dict:
    """What the status cannot say, for a failure's message: the bus and its tasks."""
    fleet = instance.app.fleet
    bus = fleet.bus
    tasks = [
        "done: " + repr(t.exception() if not t.cancelled() else "cancelled") if t.done() else "up"
        for t in fleet._tasks
    ]
    heard = {n: round(fleet.clock() - r.at, 1) for n, r in fleet.peers.items()}
    nc = bus._nc
    conn = None if nc is None else (nc._status, nc._pings_outstanding, nc.stats)
    return {
        "kv": bus.kv is not None,
        "problem": bus.problem,
        "tasks": tasks,
        "heard_ago": heard,
        "nc": conn,
        "unseen": bus._unseen,
        "watched": bus._watched,
    }


def test_a_drain_and_undrain_made_off_the_bus_leave_nothing_drained(fleet) -> None:
    instances, proxy = fleet
    a, b, c = instances
    cut(proxy, c)
    status, body = act(c, "127.0.0.21", "drain")
    assert status == 200 and body["stored"] == "pending"
    assert c.answer("drained.fleet.test.") == ALL[1:]  # applied here at once
    status, body = act(c, "127.0.0.21", "undrain")
    assert status == 200 and body["stored"] == "pending"
    assert everywhere([a, b], ALL)
    heal(proxy, instances)
    for _ in range(2):  # an unrelated reconnect later does not bring the drain back
        wait_for(lambda: everywhere(instances, ALL), 5)
        assert all(i.http("/api/v1/drains")[1] == {"drains": []} for i in instances)
        cut(proxy, c)
        heal(proxy, instances)
    assert everywhere(instances, ALL)


def test_drains_on_both_sides_of_a_partition_end_on_the_newest(fleet) -> None:
    instances, proxy = fleet
    a, c = instances[0], instances[2]
    cut(proxy, c)
    assert act(a, "127.0.0.22", "drain")[0] == 200  # older
    assert act(c, "127.0.0.21", "drain")[0] == 200  # newer; each side alone keeps 2 of 3
    heal(proxy, instances)
    # together they would leave one member: the newer drain (21) is kept back everywhere
    wait_for(lambda: everywhere(instances, ["127.0.0.21", "127.0.0.23"]), 5)
    for i in instances:
        assert i.http("/api/v1/status")[1]["fleet"]["held"] == ["fleet.test./dr/127.0.0.21"]
        rows = {d["address"]: d for d in i.http("/api/v1/drains")[1]["drains"]}
        assert rows["127.0.0.21"]["held"] and not rows["127.0.0.22"]["held"]
        assert rows["127.0.0.21"]["reason"] == "by c" and rows["127.0.0.21"]["via"] == "c"

    cut(proxy, c)
    assert act(a, "127.0.0.21", "undrain")[0] == 200  # a: 21's newest is now this undrain
    assert a.answer("drained.fleet.test.") == ["127.0.0.21", "127.0.0.23"]
    assert act(c, "127.0.0.22", "undrain")[0] == 200  # c: 22's newest is this, made later
    assert c.answer("drained.fleet.test.") == ["127.0.0.22", "127.0.0.23"]  # 21 applies on c
    heal(proxy, instances)
    wait_for(lambda: everywhere(instances, ALL), 5)
    for i in instances:
        assert i.http("/api/v1/drains")[1] == {"drains": []}
        assert "held" not in i.http("/api/v1/status")[1]["fleet"]
