"""A write storm on a 3-instance fleet under queries (dnsperf): 20 writers x 50 PATCHes.

Bounded: 1,000 writes and dnsperf at QPS per instance, stopped when the writers are done:
35-55 s of writes on a busy 2-core machine (the whole test under a minute; marked `storm`,
`-m 'not storm'` leaves it out; GEODNS_STORM_QPS changes the query rate).
Every write must succeed (the fleet's compare-and-set retries a writer that came second),
no query may fail, every instance must end on the same version, and the history must be
complete: 1,000 consecutive versions on top of the seed, the last ones listed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.fleetzones import Member
from tests.e2e.zonekit import answers, rrset_patch
from tests.servers import wait_for

pytest_plugins = ["tests.e2e.fleetzones"]  # the nats and trio fixtures

WRITERS, EACH = 20, 50
QPS = int(os.environ.get("GEODNS_STORM_QPS", "1700"))  # per instance: ~5k in all
DNSPERF = shutil.which("dnsperf")


def _dnsperf(port: int, queries: Path) -> subprocess.Popen:
    args = [DNSPERF, "-s", "127.0.0.1", "-p", str(port), "-d", str(queries)]
    args += ["-l", "120", "-Q", str(QPS), "-t", "2", "-c", "4"]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stats(proc: subprocess.Popen) -> dict[str, int]:
    proc.send_signal(signal.SIGINT)  # dnsperf stops and prints what it counted
    out, _ = proc.communicate(timeout=30)
    found = {
        key: int(re.search(rf"Queries {key}:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
        for key in ("sent", "completed", "lost")
    }
    codes = re.search(r"Response codes:\s+(.*)", out)
    found["noerror"] = int(re.search(r"NOERROR (\d+)", codes.group(1)).group(1)) if codes else 0
    return found


def _writer(member: Member, writer: int) -> list[tuple[int, int | None]]:
    done = []
    for n in range(EACH):
        patch = rrset_patch(f"w{writer}.api.test.", "A", [f"10.0.{writer}.{n}"])
        status, body, _ = member.api("PATCH", "", patch, timeout=30)
        done.append((status, body.get("version") if isinstance(body, dict) else None))
    return done


@pytest.mark.storm
@pytest.mark.skipif(DNSPERF is None, reason="dnsperf is not installed")
def test_write_storm_under_queries(trio: list[Member], tmp_path: Path) -> None:
    queries = tmp_path / "queries.txt"
    queries.write_text("www.api.test. A\nstatic.api.test. A\napi.test. SOA\n")
    seed = trio[0].served_version()
    assert seed is not None
    perf = [_dnsperf(m.server.port, queries) for m in trio if m.server is not None]
    began = time.monotonic()
    with ThreadPoolExecutor(WRITERS) as pool:
        runs = list(pool.map(lambda w: _writer(trio[w % 3], w), range(WRITERS)))
    took = time.monotonic() - began
    stats = [_stats(p) for p in perf]
    writes = [item for run in runs for item in run]
    assert [s for s, _ in writes].count(200) == WRITERS * EACH, {s for s, _ in writes}
    versions = sorted(v for _, v in writes if v is not None)
    assert len(set(versions)) == WRITERS * EACH  # each write a version of its own
    assert versions == list(range(seed + 1, seed + WRITERS * EACH + 1))  # none lost between
    top = versions[-1]
    wait_for(lambda: all(m.served_version() == top for m in trio), 5.0)  # applied by a reload
    for m in trio:
        assert m.server is not None
        for w in (0, WRITERS - 1):
            assert answers(m.server, f"w{w}.api.test.")[1] == [f"10.0.{w}.{EACH - 1}"]
    assert len({m.serial() for m in trio}) == 1
    history = trio[1].api("GET", "/history")[1]["versions"]
    listed = [v["version"] for v in history]
    assert listed == list(range(top - len(listed) + 1, top + 1)) and len(listed) == 64
    serials = [v["serial"] for v in history]
    assert serials == sorted(serials) and len(set(serials)) == len(serials)  # only growing
    for s in stats:
        assert s["lost"] == 0 and s["noerror"] == s["completed"] > 0, s
    sent = sum(s["sent"] for s in stats)
    print(f"storm: {WRITERS * EACH} writes in {took:.1f}s; {sent} queries ({sent / took:.0f}/s)")
