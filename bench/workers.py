"""CPU time per query of each worker, dns.workers 1 vs N, under the same load (issue 5).

Starts `geodns serve` with the benchmark zone pinned to CPU 0 (its workers inherit the
pinning), loads it from CPU 1 with ecsflood, and reads each worker's CPU seconds and
answered queries from /api/v1/status before and after the load. Workers sharing one core
is deliberate: the question is what a query costs a worker, not how many cores there are.

    python3 bench/workers.py [--secs 8] [--workers 1,2] [--mix geo-ecs|static|ecs100k]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
MIXES = {
    "static": ["-n", "static.geo.example", "-x"],
    "geo-ecs": ["-n", "www.geo.example", "-N", "1"],
    "ecs100k": ["-n", "www.geo.example", "-N", "100000"],
}


def geolite2() -> str:
    from _maxminddb_geolite2 import geolite2_database

    return geolite2_database()


def status(http: int) -> dict[int, tuple[float, int]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/api/v1/status", timeout=5) as r:
        workers = json.load(r)["workers"]
    return {w["pid"]: (w["cpu_seconds"] or 0.0, w["queries"]) for w in workers if w["serving"]}


def answers(port: int) -> bool:
    query = bytes.fromhex(
        "abcd01000001000000000000067374617469630367656f076578616d706c650000010001"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        try:
            s.sendto(query, ("127.0.0.1", port))
            return len(s.recv(512)) > 12
        except OSError:
            return False


def run(workers: int, mix: str, secs: int, port: int, work: Path) -> dict:
    conf = yaml.safe_load((HERE / "geodns.yaml").read_text())
    conf["dns"]["listen"] = [f"127.0.0.1:{port}"]
    conf["dns"]["workers"] = workers
    conf["http"]["listen"] = f"127.0.0.1:{port + 1}"
    conf["geoip"]["city"] = os.environ.get("GEOIP_DB") or geolite2()
    conf["zones_dir"] = str(HERE / "zones")
    path = work / f"geodns-{workers}.yaml"
    path.write_text(yaml.safe_dump(conf))
    log = open(work / f"geodns-{workers}.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        ["taskset", "-c", "0", "geodns", "serve", "--config", str(path)], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while not answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"geodns did not start; see {work}")
            time.sleep(0.2)
        flood = [str(HERE / "ecsflood"), "-s", "127.0.0.1", "-p", str(port), "-c", "200"]
        flood += MIXES[mix]
        warm = subprocess.run(["taskset", "-c", "1", *flood, "-l", "2"], capture_output=True)
        warm.check_returncode()
        before = status(port + 1)
        out = subprocess.run(
            ["taskset", "-c", "1", *flood, "-l", str(secs)], capture_output=True, text=True
        ).stdout
        after = status(port + 1)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        log.close()
    qps = lost = 0.0
    for line in out.splitlines():
        if "Queries per second" in line:
            qps = float(line.split()[3])
        if "Queries lost" in line:
            lost = float(line.split()[2])
    per = []
    for pid, (cpu, n) in after.items():
        cpu0, n0 = before.get(pid, (0.0, 0))
        if n > n0:
            per.append((pid, (cpu - cpu0) / (n - n0) * 1e6, n - n0))
    return {"workers": workers, "qps": qps, "lost": lost, "per_worker": per}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--secs", type=int, default=8)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--mix", choices=sorted(MIXES), default="geo-ecs")
    parser.add_argument("--port", type=int, default=53150)
    args = parser.parse_args()
    subprocess.run(["make", "-s", "-C", str(HERE), "ecsflood"], check=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="geodns-workers-") as tmp:
        for n in (int(x) for x in args.workers.split(",")):
            rows.append(run(n, args.mix, args.secs, args.port, Path(tmp)))
    base = None
    print(f"mix {args.mix}, {args.secs} s, server pinned to CPU 0, ecsflood -c 200 on CPU 1")
    print(f"{'workers':>7} {'qps':>9} {'lost':>5}  CPU us/query per worker (queries)")
    for row in rows:
        costs = [c for _, c, _ in row["per_worker"]]
        base = base if base is not None else sum(costs) / len(costs)
        cells = ", ".join(f"{c:.2f} ({n})" for _, c, n in row["per_worker"])
        worst = max(costs) / base
        print(f"{row['workers']:>7} {row['qps']:>9.0f} {row['lost']:>5.0f}  {cells}"
              f"  [max {worst:.2f}x the 1-worker figure]")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
