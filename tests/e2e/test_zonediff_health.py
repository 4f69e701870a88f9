"""The dry run's diff under a running server's health: the board the handler answers with
decides which clients a change moves (what the API's ?dry_run=true hands the Differ)."""

from __future__ import annotations

import copy
import socket
from pathlib import Path

import yaml

from geodns.model import AllUp
from geodns.zonediff import Differ
from tests.servers import DATA, ServerThread, wait_for, write_config


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed: refused from then on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_running_servers_health_decides(tmp_path: Path) -> None:
    check = {"type": "tcp", "port": closed_port(), "interval": "200ms", "timeout": "100ms"}
    old = {
        "zone": "t.example.",
        "ns": ["ns1.t.example."],
        "pools": {
            "eu": {"addresses": ["127.0.0.1"], "check": {**check, "rise": 1, "fall": 1}},
            "us": {"addresses": ["192.0.2.2"]},
            "ap": {"addresses": ["192.0.2.3"]},
        },
        "records": {
            "ns1": {"A": "192.0.2.53"},
            "www": {"geo": {"country:GB": "eu", "default": "us"}},
        },
    }
    new = copy.deepcopy(old)
    new["records"]["www"]["geo"]["country:GB"] = {"failover": ["eu", "ap"]}
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "t.example.yaml").write_text(yaml.safe_dump(old))
    conf = write_config(tmp_path, zones, geoip={"city": str(DATA / "city-test.mmdb")})
    server = ServerThread(conf).start()
    try:
        app = server.app
        wait_for(lambda: not app.board.is_up(("t.example.", "eu", "127.0.0.1")), timeout=15)
        differ = Differ(app.locator)
        assert differ(old, new, AllUp())["routing"] == []  # eu up: GB stays on eu
        moved = differ(old, new, app.board)["routing"]
    finally:
        server.stop()
    # eu down: GB fell through to the default before, takes the failover's ap after; its
    # networks are 81.2.69.0/24 and 2001:db8:100::/48 (tests/data/make_mmdb.py NETWORKS)
    assert {(e["family"], e["from"], e["to"], tuple(e["ranges"])) for e in moved} == {
        ("ipv4", "us", "ap", ("81.2.69.0/24",)),
        ("ipv6", "us", "ap", ("::5102:4500/120", "2001:db8:100::/48")),
    }
