"""Connections that end badly: a NATS server that stops answering (SIGSTOP) while every
instance has writes in flight, and a connection nats-py closes without calling the
callbacks a session waits on (its close stops early on an error: seen under load, the
instance stayed `degraded` for good). Every instance must notice, start over and be joined
again once the server answers (real nats-server)."""

from __future__ import annotations

import os
import signal

from tests.e2e.fleetkit import Instance, all_joined, wait_for

pytest_plugins = ["tests.e2e.fleetkit"]


def off_the_bus(instance: Instance) -> bool:
    """Its session ended (a reason is named), not merely its peers gone quiet."""
    fleet = instance.http("/api/v1/status")[1]["fleet"]
    return fleet["state"] == "degraded" and bool(fleet.get("problems"))


def joined_again(instances: list[Instance]) -> None:
    try:
        wait_for(lambda: all_joined(instances), 30)
    except AssertionError as exc:
        states = {i.name: i.http("/api/v1/status")[1]["fleet"] for i in instances}
        raise AssertionError(f"not all joined: {states}") from exc


def test_a_server_that_stalls_under_pending_writes_loses_no_instance(fleet, nats_server) -> None:
    instances, _ = fleet
    assert nats_server.proc is not None
    for _ in range(2):
        os.kill(nats_server.proc.pid, signal.SIGSTOP)
        try:  # pings go unanswered: each client closes its connection, writes in flight
            wait_for(lambda: all(off_the_bus(i) for i in instances), 20)
        finally:
            os.kill(nats_server.proc.pid, signal.SIGCONT)
        joined_again(instances)


def test_a_connection_closed_without_its_callbacks_is_noticed(fleet) -> None:
    instances, proxy = fleet
    c = instances[2]
    nc = c.app.fleet.bus._nc
    nc._disconnected_cb = nc._closed_cb = None  # as when nats-py's close ends before them
    proxy.cut()
    try:
        wait_for(lambda: off_the_bus(c), 10)  # before: on the bucket by its own account
    finally:
        proxy.mend()
    joined_again(instances)
