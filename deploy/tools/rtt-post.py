#!/usr/bin/env python3
"""Turn probe results into POST /api/v1/rtt/{zone} calls (standard library only).

Two ways in:

  # 1. Results you already have, one per line: CSV `client,pool,rtt_ms` or JSON objects
  #    (e.g. from RIPE Atlas, blackbox_exporter or your own agents), from a file or stdin.
  rtt-post.py --url http://ns1:8053 --zone gslb.example.com --token-file token results.csv

  # 2. Measure from here: run it on a probe host inside a client network; it times a TCP
  #    connect to each pool endpoint (the median of --count tries) and posts them for the
  #    network you name (or asn:N / country:XX).
  rtt-post.py --url http://ns1:8053 --zone gslb.example.com --token-file token \\
      --probe --client 81.2.69.0/24 eu-west=192.0.2.10:443 us-east=198.51.100.10:443

Measurements go out in batches of --batch, to every --url given (each instance of a fleet
keeps its own measurements: post to all of them); the server smooths them (a time-decayed mean)
and drops what is not refreshed within its rtt.expire_after, so run this at least that
often (cron, a systemd timer, a Kubernetes CronJob). Exit 1 if any batch was refused.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import socket
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def parse_results(text: str) -> list[dict]:
    """CSV `client,pool,rtt_ms` (a header line is skipped) or one JSON object per line."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            item = json.loads(line)
            out.append(
                {"client": item["client"], "pool": item["pool"], "rtt_ms": float(item["rtt_ms"])}
            )
            continue
        client, pool, ms = next(csv.reader(io.StringIO(line)))
        if ms.strip().lower() == "rtt_ms":
            continue
        out.append({"client": client.strip(), "pool": pool.strip(), "rtt_ms": float(ms)})
    return out


def connect_ms(host: str, port: int, count: int, timeout: float) -> float | None:
    """The median TCP connect time to host:port in milliseconds; None if none succeeded."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        try:
            with socket.create_connection((host, port), timeout=timeout):
                times.append((time.perf_counter() - start) * 1000)
        except OSError:
            continue
    return statistics.median(times) if times else None


def probe(client: str, targets: list[str], count: int, timeout: float) -> list[dict]:
    out = []
    for target in targets:
        pool, _, where = target.partition("=")
        host, _, port = where.rpartition(":")
        ms = connect_ms(host.strip("[]"), int(port), count, timeout)
        if ms is None:
            print(f"rtt-post: {pool}: no connect to {where}; not posted", file=sys.stderr)
        else:
            out.append({"client": client, "pool": pool, "rtt_ms": round(ms, 2)})
    return out


def post(url: str, zone: str, token: str, items: list[dict]) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{url.rstrip('/')}/api/v1/rtt/{zone}",
        data=json.dumps(items).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--url",
        required=True,
        action="append",
        help="a geodns HTTP API, e.g. http://ns1:8053; repeat it for every instance (each "
        "keeps its own measurements)",
    )
    ap.add_argument("--zone", required=True)
    ap.add_argument("--token-file", required=True, help="the file http.token_file names")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--probe", action="store_true", help="measure TCP connects from here")
    ap.add_argument("--client", help="with --probe: this host's network, asn:N or country:XX")
    ap.add_argument("--count", type=int, default=5, help="with --probe: tries per target")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument(
        "inputs", nargs="*", help="result files (default stdin), or with --probe POOL=HOST:PORT"
    )
    args = ap.parse_args(argv)
    token = Path(args.token_file).read_text().strip()
    if args.probe:
        if not args.client:
            ap.error("--probe needs --client")
        items = probe(args.client, args.inputs, args.count, args.timeout)
    else:
        texts = [Path(p).read_text() for p in args.inputs] or [sys.stdin.read()]
        items = [item for text in texts for item in parse_results(text)]
    failed = False
    for url in args.url:
        for start in range(0, len(items), args.batch):
            status, reply = post(url, args.zone, token, items[start : start + args.batch])
            print(f"rtt-post: {url}: {status} {json.dumps(reply)}")
            failed |= status != 200
    return 1 if failed or not items else 0


if __name__ == "__main__":
    sys.exit(main())
