"""bench/peers.sh's servers: each start script's group variant answers what check.sh expects.

check.sh's expected answers are written from zones/kinds.example.yaml and the bench zone by
hand (not computed by geodns), so geodns and the peers are held to the same list; a server
without the group's zone must fail it, or the check proves nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from geodns.config import demo_geoip_path
from tests.servers import REPO

BENCH = REPO / "bench"
GEOLITE2 = demo_geoip_path()
GEODNS = Path(sys.executable).parent / "geodns"
PEERS = {"gdnsd": "/usr/sbin/gdnsd", "pdns": "/usr/sbin/pdns_server", "knot": "/usr/sbin/knotd"}
GROUPS = {  # group: the (target, start script) pairs bench/peers.sh starts for it
    "kinds": [
        ("geodns", "start-geodns.sh"),
        ("gdnsd", "start-gdnsd.sh"),
        ("pdns-lua", "start-pdns-lua.sh"),
    ],
    "dnssec": [
        ("geodns", "start-geodns.sh"),
        ("knot", "start-knot.sh"),
        ("pdns", "start-pdns.sh"),
        ("pdns-lua", "start-pdns-lua.sh"),
    ],
}

pytestmark = [
    pytest.mark.skipif(GEOLITE2 is None, reason="maxminddb-geolite2 not installed"),
    pytest.mark.skipif(shutil.which("dig") is None, reason="dig (bind9-dnsutils) not installed"),
    pytest.mark.skipif(not GEODNS.exists(), reason="no geodns command beside the interpreter"),
]


def free_port() -> int:
    """A loopback port free for both UDP and TCP right now (the servers bind both)."""
    while True:
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def stop(pid: int) -> None:
    """Stop a server a start script left running, and remove its /tmp/peer-* dir."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for tmp in set(re.findall(r"/tmp/peer-[^/\x00]+", cmdline)):
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def started() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        stop(pid)


def start(pids: list[int], script: str, variant: str) -> int:
    port = free_port()
    env = {**os.environ, "GEOIP_DB": GEOLITE2 or "", "GEODNS": str(GEODNS)}
    out = subprocess.run(
        [str(BENCH / script), str(port), variant],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    pids.append(int(out.stdout.strip()))
    return port


def check(group: str, targets: dict[str, int], skip: str = "") -> subprocess.CompletedProcess:
    args = [f"{name}=127.0.0.1:{port}" for name, port in targets.items()]
    env = {**os.environ, "SKIP": skip, "TRIES": "20"}
    return subprocess.run(
        [str(BENCH / "check.sh"), group, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows(out: str) -> dict[tuple[str, str], str]:
    """check.sh's table: (target, case) -> ok column."""
    return {(f[0], f[1]): f[2] for f in (line.split() for line in out.splitlines()[1:]) if f}


def test_kinds_queries_ask_the_names_of_the_kinds_zone() -> None:
    zone = yaml.safe_load((BENCH / "zones" / "kinds.example.yaml").read_text())
    names = {f"{n}.kinds.example" for n in zone["records"]}
    asked = {
        "kinds-wildcard": "x.wild.kinds.example",  # under *.wild
        "kinds-referral": "www.sub.kinds.example",  # under the sub delegation
    }
    for path in sorted((BENCH / "queries").glob("kinds-*.txt")):
        lines = set(path.read_text().splitlines())
        assert len(lines) == 1, path
        name, rtype = lines.pop().split()
        assert rtype == "A"
        assert name == asked.get(path.stem) or name in names, path


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_server_of_a_group_answers_its_mixes(group: str, started: list[int]) -> None:
    for name, _ in GROUPS[group]:
        peer = name.split("-")[0]
        if peer in PEERS and not Path(PEERS[peer]).exists():
            pytest.skip(f"{PEERS[peer]} not installed (bench/install-peers.sh)")
    if group == "dnssec" and shutil.which("delv") is None:
        pytest.skip("delv (bind9-dnsutils) not installed")
    targets = {name: start(started, script, group) for name, script in GROUPS[group]}
    skip = "gdnsd:kinds-sticky gdnsd:kinds-cname" if group == "kinds" else ""
    out = check(group, targets, skip)
    assert out.returncode == 0, out.stdout + out.stderr
    table = rows(out.stdout)
    cases = {case for _, case in table}
    want = (
        {"static", "geo", "wrr", "sticky", "rotate", "lat", "cname", "wildcard", "referral"}
        if group == "kinds"
        else {"static", "static-do", "geo-ecs", "geo-ecs-do", "nxdomain", "nxdomain-do", "delv"}
    )
    assert cases == want
    for (target, case), ok in table.items():
        skipped = f"{target}:kinds-{case}" in skip.split()
        assert ok == ("-" if skipped else "yes"), (target, case, out.stdout)


def test_a_server_without_the_group_zone_fails_the_check(started: list[int]) -> None:
    """geodns with the bench zone alone (no kinds zone, unsigned): both checks say NO."""
    port = start(started, "start-geodns.sh", "")
    for group in ("kinds", "dnssec"):
        out = check(group, {"geodns": port})
        assert out.returncode == 1, out.stdout
        assert "NO" in rows(out.stdout).values()


def test_compare_shows_a_skipped_mix_as_dashes_without_loading(started: list[int]) -> None:
    """SKIP=NAME:MIX (or its query file) gives a "-" row; no dnsperf runs for it."""
    port = start(started, "start-geodns.sh", "kinds")
    env = {**os.environ, "MIXES": "kinds-sticky-ecs kinds-cname-ecs-do", "RUNS": "1", "SECS": "1"}
    env["SKIP"] = "geodns:kinds-sticky geodns:kinds-cname-ecs-do"
    out = subprocess.run(
        [str(BENCH / "compare.sh"), f"geodns=127.0.0.1:{port}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["target", "mix", "qps", "avg_ms", "lost", "us_q", "rss_mb"]
    assert [line.split()[:6] for line in lines[1:]] == [
        ["geodns", "kinds-sticky-ecs", "-", "-", "-", "-"],
        ["geodns", "kinds-cname-ecs-do", "-", "-", "-", "-"],
    ]
