"""Three geodns instances with `zones.source: fleet` on one real nats-server (GeoLite2-City)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from geodns.geo.locator import demo_geoip_path
from tests.e2e.fleetkit import BUS_KEY, NATS, NatsServer
from tests.e2e.zonekit import TOKEN, ZONE, ZONE_TEXT, call, soa_serial
from tests.servers import ServerThread, wait_for, write_config


class Member:
    """One instance: its zones_dir (a seed, or empty), state_dir, config and server."""

    def __init__(
        self, root: Path, name: str, nats_url: str, seed: str | None, key: str | None = BUS_KEY
    ) -> None:
        self.name, self.dir = name, root / name
        self.zones, self.state = self.dir / "zones", self.dir / "state"
        self.zones.mkdir(parents=True)
        if seed is not None:
            (self.zones / "api.test.yaml").write_text(seed)
        (self.dir / "token").write_text(TOKEN)
        fleet: dict[str, Any] = {"nats": [nats_url], "stale_after": "2s", "replicas": 1}
        if key is not None:  # zone documents sealed with fleet.key_file
            (self.dir / "bus.key").write_text(key)
            fleet["key_file"] = str(self.dir / "bus.key")
        self.config = write_config(
            self.dir,
            self.zones,
            http={"listen": "127.0.0.1:0", "token_file": str(self.dir / "token")},
            fleet=fleet,
            zones={"source": "fleet", "history": 64},
            geoip={"city": demo_geoip_path()},
            instance=name,
            state_dir=str(self.state),
        )
        self.server: ServerThread | None = None

    def start(self) -> Member:
        self.server = ServerThread(self.config).start(timeout=30)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def wipe(self) -> None:
        """Forget every zone this instance had: its zones_dir and its kept copies."""
        for folder in (self.zones, self.state / "zones"):
            shutil.rmtree(folder, ignore_errors=True)
        self.zones.mkdir()

    @property
    def addr(self) -> tuple[str, int]:
        assert self.server is not None
        return self.server.app.http_bound

    def api(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any, dict]:
        return call(self.addr, method, f"/api/v1/zones/{ZONE}{path}", body, **kw)

    def serial(self) -> int | None:
        assert self.server is not None
        return soa_serial(self.server)

    def served_version(self) -> int | None:
        """The version this instance serves (its listing, from what it applied)."""
        _, body, _ = call(self.addr, "GET", "/api/v1/zones")
        return next((z["version"] for z in body["zones"] if z["zone"] == ZONE), None)


def start_all(members: list[Member]) -> None:
    for member in members:
        member.start()
    wait_for(lambda: all(m.serial() is not None for m in members), timeout=15)


@pytest.fixture
def nats(tmp_path: Path):
    if not Path(NATS).exists():
        pytest.skip("nats-server is not installed (apt-get install nats-server)")
    if demo_geoip_path() is None:
        pytest.skip("GeoLite2-City (maxminddb-geolite2, the demo extra) is not installed")
    server = NatsServer(tmp_path / "jetstream").start()
    yield server
    server.stop()


@pytest.fixture
def trio(tmp_path: Path, nats: NatsServer):
    """a seeds the zone from its zones_dir; b and c start with an empty zones_dir."""
    members = [
        Member(tmp_path, name, nats.url, ZONE_TEXT if name == "a" else None)
        for name in ("a", "b", "c")
    ]
    start_all(members)
    yield members
    for member in members:
        member.stop()
