"""Run `geodns import` as a user does, then ask the imported zone what `geodns explain` asks.

The zone text is loaded by the real loader and compiled against GeoLite2-City (the demo
database) exactly as `geodns explain` does (cli.cmd_explain); health states are a view in
which the named pools are down, as the checker would report them.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from geodns import build
from geodns import config as cfg
from geodns.config import demo_geoip_path
from geodns.model import AllUp
from geodns.ops.explain import explain
from tests.servers import DATA, REPO, write_config

GEOLITE2 = demo_geoip_path()
FIXTURES = DATA / "import"
needs_geolite2 = pytest.mark.skipif(GEOLITE2 is None, reason="maxminddb-geolite2 not installed")


@dataclass
class Imported:
    text: str
    stderr: str
    rc: int

    @property
    def doc(self) -> dict:
        return yaml.safe_load(self.text)

    def unmapped(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("not mapped:")]


def run_import(fmt: str, *args: str | Path) -> Imported:
    """`geodns import FORMAT ...` in a child process: stdout, stderr and the exit code."""
    proc = subprocess.run(
        [sys.executable, "-m", "geodns", "import", fmt, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    return Imported(proc.stdout, proc.stderr, proc.returncode)


class Down(AllUp):
    """A health view with these pools' members down (as the checker would say)."""

    generation = 1

    def __init__(self, *pools: str) -> None:
        self.pools = set(pools)

    def is_up(self, member: tuple[str, str, str]) -> bool:
        return member[1] not in self.pools

    def pool_generation(self, pool) -> int:
        return 1


class Explainer:
    """The imported zone served by the very handler `geodns explain` builds."""

    def __init__(self, tmp: Path, imported: Imported) -> None:
        zones = tmp / "zones"
        zones.mkdir()
        (zones / f"{imported.doc['zone'].rstrip('.')}.yaml").write_text(imported.text)
        self.conf = cfg.load(str(write_config(tmp, zones, geoip={"city": GEOLITE2})))
        self.locator = build.open_locator(self.conf)
        self.table = build.build_table(self.conf, locator=self.locator)
        self.handlers: dict[frozenset, object] = {}

    def ask(self, name: str, qtype: str, client: str, down: tuple[str, ...] = ()) -> dict:
        key = frozenset(down)
        if key not in self.handlers:
            factory = build.client_factory(self.conf, self.locator)
            health = Down(*down) if down else None
            self.handlers[key] = build.make_handler(self.conf, self.table, factory, health)
        return explain(self.handlers[key], name, qtype, client, None)

    def answer(self, name: str, qtype: str, client: str, down: tuple[str, ...] = ()) -> set:
        """The answer's data (addresses, names, text), as a set; empty for NODATA."""
        report = self.ask(name, qtype, client, down)
        assert report["rcode"] == "NOERROR", report
        return {rr.split(None, 4)[4].strip('"') for rr in report["answer"]}
