"""N handle() calls of one steering mix, in process (no sockets): bench/steer_ir.sh counts
their instructions under callgrind, which a busy machine does not disturb.

    python3 bench/steer_cost.py MIX N     MIX: plain capacity plain-sticky capacity-sticky

The zone is bench/steer.sh's; the capacity pools' factors are set as its Prometheus stand-in
makes them (ca 0.5, cb 1.0), on a worker's health view (serve/worker.py PushedHealth).
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import dns.edns
import dns.message

from geodns import table
from geodns.dns.handler import Handler
from geodns.geo import locator as geoip
from geodns.geo.ecs import ClientFactory
from geodns.health.board import HealthBoard
from geodns.serve.worker import PushedHealth
from geodns.zones import zonefile

HERE = Path(__file__).resolve().parent


def zone_text() -> str:
    """The zone file bench/steer.sh writes (one source for both)."""
    script = (HERE / "steer.sh").read_text()
    return re.search(r"<<'YAML'\n(zone: steer\.bench\..*?)\nYAML", script, re.S).group(1)


def main(mix: str, n: int) -> None:
    board = HealthBoard()
    board.set_capacity({("steer.bench.", "ca"): (0.5, "load 0.8"), ("steer.bench.", "cb"): (1, "")})
    health = PushedHealth(board.generation, board.down(), board.pool_generations(), board.steering)
    compiled = table.compile_table([zonefile.load_text(zone_text(), "steer.bench.yaml")])
    clients = ClientFactory(geoip.Locator.open(None, None))
    handler = Handler(compiled, clients, health, rng=random.Random(1))
    opts = [dns.edns.ECSOption.from_text("81.2.69.0/24")] if mix.endswith("-sticky") else []
    query = dns.message.make_query(f"{mix}.steer.bench", "A", use_edns=0, options=opts)
    wire = query.to_wire()
    assert dns.message.from_wire(handler.handle(wire, "127.0.0.1")).answer
    for _ in range(n):
        handler.handle(wire, "127.0.0.1")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
