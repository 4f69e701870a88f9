"""Scale: load+compile time and RSS of generated 1k/100k/1M-name zones, qps on them, and
the longest gap in answers while the 1M zone reloads under load.

    python3 bench/scale.py                      # load+compile and RSS for 1k, 100k, 1M
    python3 bench/scale.py --sizes 1000,1000000 --qps 10    # + dnsperf qps per size
    python3 bench/scale.py --sizes 1000000 --no-load --stall 3 [--load-qps 20000]

Zones go to --dir (default /tmp/geodns-scale, made by bench/genzone.py, never
committed). Servers listen on 127.0.0.1:--port (54000-54999) and 127.0.0.1:port+1
(HTTP), pinned to CPU 0 with the clients on CPU 1 when there are two CPUs. Wrap any run
with --qps or --stall in `flock /tmp/geodns-bench.lock` on a shared machine.

--qps SECS: dnsperf against each zone twice: with the smallest zone's query file (the
same names exist in every zone, so only the table size differs) and with the zone's own
(more distinct names; 20% policy names and 25% AAAA in both).

--stall N: a UDP client asks one query at a time (1 s timeout = lost) for the whole run,
optionally beside dnsperf at --load-qps; N times the zone file's first record is changed
and the server gets SIGHUP; the client waits until the new answer shows. Reported: the
longest gap between consecutive answers, lost queries, each reload's time, server RSS.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ZONE = "bulk.example."

MEASURE = """
import gc, json, sys, time
from geodns.zones import teardown
from geodns.zones import load
from geodns.table import compile_table
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) // 1024
t0, c0 = time.perf_counter(), time.process_time()
with teardown.gc_paused():
    zones = load.load_dir(sys.argv[1])
    t1 = time.perf_counter()
    table = compile_table(zones)
t2, c2 = time.perf_counter(), time.process_time()
del zones
gc.collect()
print(json.dumps({"load_s": t1 - t0, "compile_s": t2 - t1, "total_s": t2 - t0,
    "cpu_s": c2 - c0, "rss_mb": status("VmRSS"), "peak_mb": status("VmHWM"),
    "fast_entries": table.fast_size()}))
"""


def generate(names: int, root: Path) -> tuple[Path, Path]:
    zones, queries = root / f"z{names}", root / f"q{names}.txt"
    if not (zones / f"{ZONE.rstrip('.')}.yaml").exists() or not queries.exists():
        cmd = [sys.executable, str(HERE / "genzone.py"), str(names), str(zones)]
        subprocess.run([*cmd, "--queries", str(queries)], check=True)
    return zones, queries


def measure_load(zones: Path, runs: int) -> dict:
    """Median of `runs` fresh processes loading and compiling the zone directory."""
    rows = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, str(zones)], check=True, capture_output=True, text=True
        )
        rows.append(json.loads(out.stdout))
    rows.sort(key=lambda r: r["total_s"])
    return rows[len(rows) // 2]


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if (os.cpu_count() or 1) >= 2 else []


def rss_mb(pid: int) -> int:
    """VmRSS of a process and its children (dns.workers processes), in MB."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                total += int(line.split()[1]) // 1024
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += rss_mb(int(child))
    except OSError:
        pass
    return total


def query(qid: int, name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return (
        struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
        + labels
        + b"\0"
        + struct.pack("!HH", qtype, 1)
    )


class Server:
    """`geodns serve` on 127.0.0.1:port with one zones directory, as a child process."""

    def __init__(self, zones: Path, port: int, work: Path, args) -> None:
        start_timeout, command, workers = args.start_timeout, args.geodns, args.workers
        config = work / f"geodns-{port}.yaml"
        config.write_text(
            f'dns:\n  listen: ["127.0.0.1:{port}"]\n  workers: {workers}\n'
            f'http:\n  listen: "127.0.0.1:{port + 1}"\ngeoip:\n  city: null\n'
            f"zones_dir: {zones}\nreload:\n  watch: false\nlog:\n  level: warning\n"
        )
        self.port = port
        self.log = open(work / f"geodns-{port}.log", "w")  # noqa: SIM115
        cmd = [*pin(0), *command.split(), "serve", "--config", str(config)]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        while ask(port, f"n0.{ZONE}", timeout=0.5) is None:
            if self.proc.poll() is not None or time.monotonic() - t0 > start_timeout:
                self.stop()
                raise SystemExit(f"geodns did not start on port {port}: see {self.log.name}")
        self.started_s = time.monotonic() - t0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def ask(port: int, name: str, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(query(4242, name), ("127.0.0.1", port))
        try:
            return s.recv(4096)
        except OSError:
            return None


def dnsperf_cmd(port: int, queries: Path, secs: int, rate: int = 0) -> list[str]:
    cmd = [*pin(1), "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries)]
    cmd += ["-l", str(secs), "-c", "4", "-q", "200", "-t", "1"]
    return cmd + (["-Q", str(rate)] if rate else [])


def dnsperf_summary(out: str) -> dict:
    """qps, sent, lost (unanswered within 1 s) and interrupted (in flight at SIGINT)."""
    found = {}
    for line in out.splitlines():
        words = line.split()
        for label in ("sent", "lost", "interrupted"):
            if line.strip().startswith(f"Queries {label}:"):
                found[label] = int(words[2])
        if line.strip().startswith("Queries per second:"):
            found["qps"] = float(words[-1])
    return found


def dnsperf(port: int, queries: Path, secs: int, rate: int = 0) -> dict:
    out = subprocess.run(dnsperf_cmd(port, queries, secs, rate), capture_output=True, text=True)
    return dnsperf_summary(out.stdout)


class Prober:
    """One query in flight at a time, from a process of its own (so nothing the bench
    itself does, like rewriting a 50 MB zone file, delays it); records when each answer
    came and which queries were lost."""

    def __init__(self, port: int, names: list[str]) -> None:
        self.stop = multiprocessing.Event()
        self._results = multiprocessing.Queue()
        self._proc = multiprocessing.Process(
            target=_probe, args=(port, names, self.stop, self._results), daemon=True
        )
        self.answers: list[float] = []
        self.lost: list[float] = []

    def start(self) -> None:
        self._proc.start()

    def join(self, timeout: float) -> None:
        self.answers, self.lost = self._results.get(timeout=30)
        self._proc.join(timeout)

    def worst_gap(self, since: float = 0.0, until: float = float("inf")) -> tuple[float, float]:
        times = [t for t in self.answers if since <= t <= until]
        gaps = [(b - a, a) for a, b in itertools.pairwise(times)]
        return max(gaps) if gaps else (0.0, 0.0)


def _probe(port: int, names: list[str], stop, results) -> None:
    answers, lost = [], []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1.0)
        s.connect(("127.0.0.1", port))
        qid = 0
        while not stop.is_set():
            qid = (qid + 1) & 0xFFFF
            s.send(query(qid, random.choice(names)))
            sent_at = time.monotonic()
            while True:
                try:
                    reply = s.recv(4096)
                except TimeoutError:
                    lost.append(sent_at)
                    break
                if reply[:2] == struct.pack("!H", qid):
                    answers.append(time.monotonic())
                    break
    results.put((answers, lost))


def first_record(zone_file: Path) -> tuple[str, str]:
    """The line of n0 and its A address (genzone writes `  n0: {A: 10.0.0.0}`)."""
    with zone_file.open() as f:
        for line in f:
            if line.startswith("  n0: "):
                return line, line.split("A: ")[1].split("}")[0].strip()
    raise SystemExit(f"{zone_file}: no n0 record")


def set_first_address(zone_file: Path, address: str) -> None:
    """Rewrite the n0 line, so only that record changes."""
    old_line, old_addr = first_record(zone_file)
    new_line = old_line.replace(old_addr, address)
    data = zone_file.read_bytes()
    zone_file.write_bytes(data.replace(old_line.encode(), new_line.encode(), 1))


def stall_test(zones: Path, queries: Path, args, work: Path) -> dict:
    zone_file = zones / f"{ZONE.rstrip('.')}.yaml"
    names = [line.split()[0] for line in queries.read_text().splitlines() if " A" in line]
    server = Server(zones, args.port, work, args)
    result: dict = {"start_s": round(server.started_s, 1), "rss_start_mb": rss_mb(server.proc.pid)}
    prober = Prober(args.port, names[:2000])
    load = None
    reloads: list[dict] = []
    windows: list[tuple[float, float, float]] = []
    try:
        prober.start()
        if args.load_qps:  # stopped with SIGINT when done: in-flight ones count as interrupted
            cmd = dnsperf_cmd(args.port, queries, 3600, args.load_qps)
            load = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        time.sleep(2)
        for i in range(args.stall):
            address = f"10.255.{i // 250}.{i % 250 + 1}"
            set_first_address(zone_file, address)
            t0 = time.monotonic()
            server.proc.send_signal(signal.SIGHUP)
            want = socket.inet_aton(address)
            while time.monotonic() - t0 < args.reload_timeout:
                reply = ask(args.port, f"n0.{ZONE}")
                if reply is not None and reply.endswith(want):
                    break
                time.sleep(0.05)
            took = time.monotonic() - t0
            time.sleep(2)
            windows.append((t0, time.monotonic(), took))
    finally:
        prober.stop.set()
        prober.join(5)
        if load is not None:
            load.send_signal(signal.SIGINT)
            result["load"] = dnsperf_summary(load.communicate(timeout=30)[0])
        result["rss_end_mb"] = rss_mb(server.proc.pid)
        server.stop()
        set_first_address(zone_file, "10.0.0.0")
    for t0, end, took in windows:
        gap, at = prober.worst_gap(since=t0, until=end)
        gap_ms, at_s = round(gap * 1000, 1), round(at - t0, 1)
        reloads.append({"reload_s": round(took, 1), "worst_gap_ms": gap_ms, "gap_at_s": at_s})
    result["reloads"] = reloads
    if prober.answers:
        first = prober.answers[0]
        result["gap_before_ms"] = round(prober.worst_gap(until=first + 2)[0] * 1000, 1)
    result.update(
        probe_answers=len(prober.answers),
        probe_lost=len(prober.lost),
        worst_gap_ms=round(prober.worst_gap()[0] * 1000, 1),
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,100000,1000000")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/geodns-scale"))
    ap.add_argument("--runs", type=int, default=3, help="load runs per size (median kept)")
    ap.add_argument("--no-load", action="store_true", help="skip load+compile measurement")
    ap.add_argument("--qps", type=int, default=0, metavar="SECS", help="dnsperf per size")
    ap.add_argument("--stall", type=int, default=0, metavar="N", help="reloads of the biggest")
    ap.add_argument("--load-qps", type=int, default=0, help="dnsperf -Q beside the stall probe")
    ap.add_argument("--port", type=int, default=54053)
    ap.add_argument("--geodns", default="geodns", help="the command that runs geodns")
    ap.add_argument("--workers", type=int, default=1, help="dns.workers of the server")
    ap.add_argument("--start-timeout", type=float, default=300)
    ap.add_argument("--reload-timeout", type=float, default=180)
    args = ap.parse_args(argv)
    if not 54000 <= args.port <= 54998:
        ap.error("--port must be in 54000-54998")
    sizes = [int(s) for s in args.sizes.split(",")]
    args.dir.mkdir(parents=True, exist_ok=True)
    report: dict = {"python": sys.version.split()[0], "nproc": os.cpu_count(), "sizes": {}}
    for names in sizes:
        zones, queries = generate(names, args.dir)
        row = report["sizes"].setdefault(names, {})
        if not args.no_load:
            row.update(measure_load(zones, 1 if names >= 1_000_000 else args.runs))
            print(names, json.dumps(row), flush=True)
        if args.qps:  # the smallest zone's names exist in every zone: the same queries for all
            same = generate(min(sizes), args.dir)[1]
            server = Server(zones, args.port, args.dir, args)
            try:
                row["dnsperf_same_names"] = dnsperf(args.port, same, args.qps)
                row["dnsperf_own_names"] = dnsperf(args.port, queries, args.qps)
                row["server_rss_mb"] = rss_mb(server.proc.pid)
            finally:
                server.stop()
            print(names, json.dumps(row), flush=True)
    if args.stall:
        zones, queries = generate(max(sizes), args.dir)
        report["stall"] = stall_test(zones, queries, args, args.dir)
        print("stall", json.dumps(report["stall"]), flush=True)
    qps = {
        n: r["dnsperf_same_names"]["qps"]
        for n, r in report["sizes"].items()
        if "dnsperf_same_names" in r
    }
    if len(qps) > 1:
        report["qps_biggest_over_smallest"] = round(qps[max(qps)] / qps[min(qps)], 3)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
