"""The fleet's own cost at scale: N real coordinators (geodns.fleet.coordinator.Fleet, each
with its board of M checked members, its own NATS connection, signed entries) on one real
nats-server, in this one process: the process's CPU / N is what the verdict traffic costs
one instance. `join` times N instances of M members from start to agreeing on every member.

    python bench/fleet_scale.py cpu --instances 40 --members 1000 --secs 60
    python bench/fleet_scale.py join --instances 3 --members 27000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("GEODNS_SRC", str(Path(__file__).resolve().parents[1])))

from geodns.config import Config, FleetConfig
from geodns.fleet.coordinator import Fleet
from geodns.health.board import HealthBoard
from geodns.model import CheckSpec

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"


def start_nats(store: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [NATS, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", str(store)],
        stderr=subprocess.PIPE,
        text=True,
    )
    port = 0
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"client connections on 127\.0\.0\.1:(\d+)", line)
        port = int(found.group(1)) if found else port
        if "Server is ready" in line:
            break
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, f"nats://127.0.0.1:{port}"


def cpu_of(pid: int) -> float:
    """user+system seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fleet_conf(url: str, key: Path, stale: float) -> FleetConfig:
    """Keys this checkout knows (an older one lacks replicas, key_file)."""
    known = {f.name for f in dataclasses.fields(FleetConfig)}
    wanted = {"nats": (url,), "stale_after": stale, "replicas": 1, "key_file": str(key)}
    return FleetConfig(**{k: v for k, v in wanted.items() if k in known})


def board_of(members: int) -> tuple[HealthBoard, list]:
    board = HealthBoard()
    keys = [
        ("scale.test.", f"pool{i // 50}", f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
        for i in range(members)
    ]
    spec = CheckSpec("tcp", 80, interval=3600, rise=1, fall=1)
    board.set_members(dict.fromkeys(keys, spec))
    for key in keys:
        board.record(key, True, "ok")
    return board, keys


async def make_fleet(n: int, members: int, url: str, key: Path, stale: float) -> list:
    fleets = []
    for i in range(n):
        board, keys = board_of(members)
        conf = Config(fleet=fleet_conf(url, key, stale), instance=f"bench{i:02d}")
        fleet = Fleet(conf, board)
        fleet.keys = keys
        await fleet.start()
        fleet.members_changed()
        fleets.append(fleet)
    return fleets


def agreed(fleets: list, n: int, members: int) -> bool:
    return all(
        f.summary()["instances"] == n
        and len(f.tallies) == members
        and all(t.voters == n for t in f.tallies.values())
        for f in fleets
    )


async def until(cond, timeout: float) -> float:
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"not reached within {timeout}s")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def cpu(args: argparse.Namespace, url: str, key: Path, nats_pid: int) -> None:
    t0 = time.monotonic()
    fleets = await make_fleet(args.instances, args.members, url, key, args.stale)
    took = await until(lambda: agreed(fleets, args.instances, args.members), 300)
    print(
        f"formed: {args.instances} x {args.members} in {time.monotonic() - t0:.1f}s "
        f"(agreement {took:.1f}s after the last start)"
    )
    await asyncio.sleep(args.stale)  # past the join: maps written, first beats out
    rng = random.Random(1)
    flips, p0, n0, w0 = 0, time.process_time(), cpu_of(nats_pid), time.monotonic()
    while time.monotonic() - w0 < args.secs:
        await asyncio.sleep(1.0)
        for fleet in fleets:  # each instance sees flaps_per_min of its members change
            if rng.random() < args.flaps_per_min / 60:
                member = rng.choice(fleet.keys)
                up = fleet.board.own_verdicts().get(member) == "down"
                fleet.board.record(member, up, "flap")
                flips += 1
    wall = time.monotonic() - w0
    ours, nats = (time.process_time() - p0) / wall, (cpu_of(nats_pid) - n0) / wall
    print(
        f"steady {wall:.0f}s, {flips} verdict changes: this process {ours * 100:.1f}% "
        f"of a CPU = {ours * 100 / args.instances:.2f}% per instance; "
        f"nats-server {nats * 100:.1f}%"
    )
    for fleet in fleets:
        await fleet.stop()


async def join(args: argparse.Namespace, url: str, key: Path, nats_pid: int) -> None:
    t0 = time.monotonic()
    fleets = await make_fleet(args.instances, args.members, url, key, args.stale)
    started = time.monotonic() - t0
    took = await until(lambda: agreed(fleets, args.instances, args.members), args.timeout)
    states = {f.summary()["state"] for f in fleets}
    print(
        f"join: {args.instances} x {args.members} members: started in {started:.1f}s, "
        f"every instance tallies every member over {args.instances} voters "
        f"{took:.1f}s later; states {sorted(states)}"
    )
    for fleet in fleets:
        await fleet.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("cpu", "join"))
    parser.add_argument("--instances", type=int, default=40)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--secs", type=float, default=60)
    parser.add_argument("--stale", type=float, default=30.0, help="fleet.stale_after")
    parser.add_argument("--flaps-per-min", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "bus.key"
        key.write_text("bench-shared-secret-0123456789")
        proc, url = start_nats(Path(tmp) / "js")
        try:
            job = cpu if args.mode == "cpu" else join
            asyncio.run(job(args, url, key, proc.pid))
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
