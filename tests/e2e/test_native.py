"""dns.fast_path over real sockets: native threads answer what the engine holds (static
names, NXDOMAIN, chains, wildcards...), hand the rest to Python with its source, count
what they answer for /metrics, and the choice fails loudly or warns once when the
extension is missing."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from geodns.native import table as native
from tests.conftest import CORE_ZONES, HAS_IPV6
from tests.servers import ServerProcess, ServerThread, write_config

needs_native = pytest.mark.skipif(not native.available(), reason="geodns._native not built")


def thread_names(pid: int) -> list[str]:
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that just ended
            out.append(Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip())
    return out


def worker_pids(server: ServerThread) -> list[int]:
    return [p for p, proc in server.app.dns.procs.items() if not proc.exited.done()]


@pytest.fixture(scope="module", params=["native", "python"])
def served(request, tmp_path_factory) -> ServerThread:
    tmp = tmp_path_factory.mktemp("native")
    listen = ["127.0.0.1:0", "[::1]:0"] if HAS_IPV6 else ["127.0.0.1:0"]
    if request.param == "native" and not native.available():
        pytest.skip("geodns._native not built")
    conf = write_config(tmp, CORE_ZONES, dns={"listen": listen, "fast_path": request.param})
    server = ServerThread(conf).start()
    yield server
    server.stop()


def udp_counts(server: ServerThread) -> dict:
    counters = server.call(server.app.counters)
    return {k: v for k, v in counters.stats.queries.items() if k[3] == "udp"}


def test_answers_and_counts_on_either_path(served: ServerThread) -> None:
    """Static, NXDOMAIN (with ECS, mixed case, v4 and v6), a CNAME chain and a wildcard
    (native too): the right answers, and /metrics counts each once."""
    before = udp_counts(served)
    ecs = [dns.edns.ECSOption.from_text("81.2.69.0/24")]
    families = (4, 6) if HAS_IPV6 else (4,)
    n = 0
    for family in families:
        for i in range(40):
            q = dns.message.make_query(
                "StAtic.example.test" if i & 1 else "static.example.test", "A"
            )
            r = served.udp(q, family)
            assert sorted(rr.address for rr in r.answer[0]) == ["192.0.2.1", "192.0.2.2"]
            q = dns.message.make_query(f"n{i}.example.test", "AAAA", use_edns=0, options=ecs)
            r = served.udp(q, family)
            assert r.rcode() == dns.rcode.NXDOMAIN and r.authority[0].rdtype == 6
            assert r.options[0].scopelen == 0
            r = served.udp(dns.message.make_query("alias.example.test", "A"), family)
            assert r.answer[-1][0].address == "192.0.2.1"
            r = served.udp(dns.message.make_query(f"w{i}.edge.example.test", "A"), family)
            assert r.answer[0][0].address == "192.0.2.99"
            n += 1
    after = udp_counts(served)

    def moved(qtype: int, rcode: int) -> int:
        key = ("example.test.", qtype, rcode, "udp")
        return after.get(key, 0) - before.get(key, 0)

    assert moved(28, 3) == n  # NXDOMAIN AAAA: natively answered and counted
    assert moved(1, 0) == 3 * n  # static, CNAME chase, wildcard


def test_native_threads_run_only_on_the_native_path(served: ServerThread) -> None:
    names = [name for pid in worker_pids(served) for name in thread_names(pid)]
    expected = served.app.config.dns.fast_path == "native"
    assert ("geodns-udp" in names) == expected, names


@needs_native
def test_native_without_the_extension_is_a_start_error(tmp_path: Path) -> None:
    conf = write_config(
        tmp_path, CORE_ZONES, dns={"listen": ["127.0.0.1:0"], "fast_path": "native"}
    )
    proc = ServerProcess(["serve", "--config", str(conf)], env={"GEODNS_NO_NATIVE": "1"})
    try:
        with pytest.raises(RuntimeError, match=r"fast_path is native but the geodns\._native"):
            proc.start()
        assert proc.proc is not None and proc.proc.wait(10) != 0
    finally:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.stop()  # it started after all: never leave it running


def test_auto_without_the_extension_warns_once_and_answers(tmp_path: Path) -> None:
    conf = write_config(tmp_path, CORE_ZONES, dns={"listen": ["127.0.0.1:0"], "fast_path": "auto"})
    proc = ServerProcess(["serve", "--config", str(conf)], env={"GEODNS_NO_NATIVE": "1"})
    proc.start()
    try:
        host, port = proc.bound[0]
        q = dns.message.make_query("static.example.test", "A")
        assert dns.query.udp(q, host, port=port, timeout=3).answer
    finally:
        proc.stop()
    warnings = [line for line in proc.log_lines if "fast path" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0], warnings


@pytest.mark.parametrize("fast_path", ["auto", "python", "native"])
def test_version_says_which_path_a_config_runs(tmp_path: Path, fast_path: str) -> None:
    conf = write_config(tmp_path, CORE_ZONES, dns={"fast_path": fast_path})
    done = subprocess.run(
        [sys.executable, "-m", "geodns", "version", "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GEODNS_NO_NATIVE": ""},
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("fast path: "))
    if fast_path == "python" or not native.available():
        assert line.startswith("fast path: python ("), line
    else:
        assert line == "fast path: native (geodns._native)", line
