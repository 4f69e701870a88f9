"""Does a /metrics scrape stall answering? The longest gap a one-at-a-time UDP prober sees.

    python3 bench/scrape_stall.py [--zones 200 --names 50 --pools 4] [--seconds 10]

Runs `geodns serve` (dns.workers: 1, ephemeral loopback ports) on generated zones whose
weighted names spread answers over every pool, so `responses_by_pool_total` grows to
zones x names x pools series; fills the counters, then, twice for --seconds each: a prober
process asks one query at a time and records the gap between consecutive answers, first
alone (baseline), then while this process scrapes /metrics in a loop. Prints both as
JSON: gap p50/p99/p99.9/max in ms, lost queries, scrapes, scrape time, series.
--direct: no server; in one process, the longest event-loop turn while such a snapshot
is pickled whole (as before) and packed a slice per turn (geodns/ops/packing.py).
--nice N renices the supervisor (after its worker is forked): on a 2-CPU machine the
back-to-back scrapes keep the supervisor at 100% of one CPU, and what is left of the
gaps is then the worker losing its CPU, not work it does. Wrap in
`flock /tmp/geodns-bench.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PCTS = (("p50", 0.5), ("p99", 0.99), ("p999", 0.999))


def write_zones(folder: Path, zones: int, names: int, pools: int) -> list[str]:
    """`zones` zone files of `names` weighted names over `pools` pools; the query names."""
    folder.mkdir(parents=True, exist_ok=True)
    qnames = []
    weights = ", ".join(f"p{k}: 1" for k in range(pools))
    for z in range(zones):
        origin = f"z{z}.scrape.test."
        lines = [f"zone: {origin}", f"ns: [ns1.{origin}]", "pools:"]
        lines += [f"  p{k}: {{addresses: [192.0.2.{k + 1}]}}" for k in range(pools)]
        lines += ["records:", "  ns1: {A: 192.0.2.53}"]
        lines += [f"  n{j}: {{weighted: {{{weights}}}}}" for j in range(names)]
        (folder / f"{origin}yaml").write_text("\n".join(lines) + "\n")
        qnames += [f"n{j}.{origin}" for j in range(names)]
    return qnames


def query(qname: str, qid: int) -> bytes:
    wire = b"".join(bytes([len(p)]) + p.encode() for p in qname.rstrip(".").split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack("!HH", 1, 1)


def fill(addr: tuple[str, int], qnames: list[str], rounds: int) -> None:
    """Ask every name `rounds` times, 64 in flight, so most (name, pool) series exist."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        todo = [q for q in qnames for _ in range(rounds)]
        for start in range(0, len(todo), 64):
            batch = todo[start : start + 64]
            for i, qname in enumerate(batch):
                sock.sendto(query(qname, i), addr)
            for _ in batch:
                try:
                    sock.recv(4096)
                except TimeoutError:
                    break


def probe(addr: tuple[str, int], qnames: list[str], seconds: float, out) -> None:
    """One query at a time for `seconds`; sends back the gaps (s) between answers and losses."""
    rng = random.Random(1)
    gaps, lost = [], 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        end = time.perf_counter() + seconds
        last = time.perf_counter()
        for qid in itertools.count():
            if last > end:
                break
            sock.sendto(query(rng.choice(qnames), qid & 0xFFFF), addr)
            try:
                while struct.unpack("!H", sock.recv(4096)[:2])[0] != qid & 0xFFFF:
                    pass
            except TimeoutError:
                lost += 1
                continue
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
    out.send((gaps, lost))


def scrape_loop(addr: tuple[str, int], stop: threading.Event, times: list, sizes: list) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        conn = http.client.HTTPConnection(*addr, timeout=30)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
        conn.close()
        times.append(time.perf_counter() - start)
        sizes.append(body)


def measure(dns: tuple[str, int], api: tuple[str, int] | None, qnames: list[str], secs: float):
    """The prober's gaps, with /metrics scraped in a loop meanwhile when `api` is given."""
    mine, theirs = multiprocessing.Pipe()
    prober = multiprocessing.Process(target=probe, args=(dns, qnames, secs, theirs))
    stop, times, bodies = threading.Event(), [], []
    scraper = threading.Thread(target=scrape_loop, args=(api, stop, times, bodies))
    prober.start()
    if api is not None:
        scraper.start()
    gaps, lost = mine.recv()
    prober.join()
    stop.set()
    if api is not None:
        scraper.join()
    gaps.sort()
    result = {
        "answers": len(gaps),
        "lost": lost,
        **{f"gap_{k}_ms": round(gaps[int(q * (len(gaps) - 1))] * 1e3, 2) for k, q in PCTS},
        "gap_max_ms": round(gaps[-1] * 1e3, 2),
        "gaps_over_5ms": sum(1 for g in gaps if g > 0.005),
        "gaps_over_10ms": sum(1 for g in gaps if g > 0.010),
    }
    if times:
        series = sum(1 for ln in bodies[-1].splitlines() if ln and not ln.startswith(b"#"))
        result.update(
            scrapes=len(times),
            scrape_mean_ms=round(sum(times) / len(times) * 1e3, 1),
            scrape_max_ms=round(max(times) * 1e3, 1),
            series=series,
            body_kb=len(bodies[-1]) // 1024,
        )
    return result


def start_server(folder: Path) -> tuple[subprocess.Popen, tuple[str, int], tuple[str, int]]:
    config = folder / "geodns.yaml"
    config.write_text(
        json.dumps(
            {
                "dns": {"listen": ["127.0.0.1:0"], "workers": 1},
                "http": {"listen": "127.0.0.1:0"},
                "zones_dir": str(folder / "zones"),
                "reload": {"watch": False},
                "log": {"level": "info"},
            }
        )
    )
    cmd = [sys.executable, "-m", "geodns", "serve", "--config", str(config)]
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
    dns = api = None
    assert proc.stderr is not None
    for line in proc.stderr:
        if m := re.search(r"HTTP API on http://([\d.]+):(\d+)", line):
            api = (m.group(1), int(m.group(2)))
        if m := re.search(r"listening on ([\d.]+) port (\d+)", line):
            dns = (m.group(1), int(m.group(2)))
        if dns and api:
            break
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
    assert dns and api, "server did not start"
    return proc, dns, api


def direct(zones: int, names: int, pools: int) -> dict:
    """In one process, no sockets: the longest event-loop turn while a worker's snapshot of
    zones x names x pools counters is pickled whole (before) and packed (ops/packing.py)."""
    import asyncio
    import pickle

    from geodns.dns.stats import Stats
    from geodns.ops import packing

    stats = Stats()
    for z, j, k in itertools.product(range(zones), range(names), range(pools)):
        stats.by_pool[(f"z{z}.scrape.test.", f"n{j}.z{z}.scrape.test.", f"p{k}")] += 3

    async def longest_turn(work) -> float:
        worst, done = 0.0, False

        async def ticker() -> None:
            nonlocal worst
            last = time.perf_counter()
            while not done:
                await asyncio.sleep(0)
                now = time.perf_counter()
                worst, last = max(worst, now - last), now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        for _ in range(5):
            snap = {"queries": dict(stats.queries), "by_pool": dict(stats.by_pool)}
            await work(snap)
            await asyncio.sleep(0)  # one snapshot per scrape: the loop turns between them
        done = True
        await task
        return round(worst * 1e3, 2)

    async def whole(snap: dict) -> None:
        pickle.dumps(("stats", 1, snap), protocol=pickle.HIGHEST_PROTOCOL)

    async def packed(snap: dict) -> None:
        snap = await packing.pack_snapshot(snap)
        pickle.dumps(("stats", 1, snap), protocol=pickle.HIGHEST_PROTOCOL)

    async def both() -> dict:
        return {"whole_ms": await longest_turn(whole), "packed_ms": await longest_turn(packed)}

    return {"series": len(stats.by_pool), "longest_loop_turn": asyncio.run(both())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", type=int, default=200)
    parser.add_argument("--names", type=int, default=50)
    parser.add_argument("--pools", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--nice", type=int, default=0, help="renice the supervisor (not its worker) by this"
    )
    parser.add_argument(
        "--direct", action="store_true", help="only the in-process loop-turn measurement"
    )
    args = parser.parse_args()
    if args.direct:
        print(json.dumps(direct(args.zones, args.names, args.pools), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="geodns-scrape-") as tmp:
        folder = Path(tmp)
        qnames = write_zones(folder / "zones", args.zones, args.names, args.pools)
        proc, dns, api = start_server(folder)
        if args.nice:  # the worker is forked already: only the scraped process yields the CPU
            os.setpriority(os.PRIO_PROCESS, proc.pid, args.nice)
        try:
            fill(dns, qnames, rounds=3 * args.pools)
            report = {
                "zones": args.zones,
                "names": len(qnames),
                "pools": args.pools,
                "supervisor_nice": args.nice,
                "alone": measure(dns, None, qnames, args.seconds),
                "scraped": measure(dns, api, qnames, args.seconds),
            }
        finally:
            proc.terminate()
            proc.wait(20)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
