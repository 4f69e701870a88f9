"""`geodns check` lists every problem; a running server keeps its zones when handed a broken one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.servers import DATA, REPO, ServerThread, write_config

# State must reach every worker: `make test` runs these again with two (-m workers).
pytestmark = [pytest.mark.workers]

BROKEN = """\
zone: example.test.
ttl: 120
ns: [ns1.example.test.]
records:
  ns1: {A: 192.0.2.53}
  static: {A: 192.0.2.300}
  alias: {CNAME: static, TXT: "also here"}
  far: {A: 192.0.2.9, ttl: 99999999999}
"""
MISTAKES = [
    (6, "not an IPv4 address"),
    (7, "CNAME cannot stand beside other data"),
    (8, "TTL 99999999999"),
]


def run_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "geodns", "check", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_check_reports_all_three_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "example.test.yaml"
    path.write_text(BROKEN)
    result = run_check(str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    for line_no, text in MISTAKES:
        assert any(ln.startswith(f"{path}:{line_no}: ") and text in ln for ln in lines), lines
    assert "3 problem(s) found" in result.stderr


def test_check_accepts_good_zones() -> None:
    result = run_check(*(str(p) for p in sorted((DATA / "zones" / "core").glob("*.yaml"))))
    assert result.returncode == 0, result.stderr
    assert "ok: example.test." in result.stdout


def test_check_with_config_and_embedded_default(tmp_path: Path) -> None:
    assert run_check().returncode == 0  # the embedded default: repo zones/
    conf = tmp_path / "bad.yaml"
    conf.write_text("dns:\n  listen: nowhere\n  colour: blue\n")
    result = run_check("--config", str(conf))
    assert result.returncode == 1
    assert f"{conf}:2:" in result.stderr and f"{conf}:3:" in result.stderr


def test_running_server_keeps_old_zone_on_broken_reload(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    shutil.copytree(DATA / "zones" / "core", zones)
    server = ServerThread(write_config(tmp_path, zones, dns={"listen": ["127.0.0.1:0"]})).start()
    try:
        host, port = server.where(4)
        query = dns.message.make_query("static.example.test", "A")
        before = dns.query.udp(query, host, port=port, timeout=3)
        (zones / "example.test.yaml").write_text(BROKEN)
        assert server.call(server.app.reload) is False
        assert server.app.reloads.error == 1
        after = dns.query.udp(query, host, port=port, timeout=3)
        assert after.answer == before.answer
        assert dns.query.tcp(query, host, port=port, timeout=3).answer == before.answer
    finally:
        server.stop()


def test_config_reload_and_query_log(tmp_path: Path) -> None:
    import dns.edns
    import yaml

    from tests.servers import ServerProcess

    conf = write_config(
        tmp_path,
        DATA / "zones" / "geo",
        dns={"listen": ["127.0.0.1:0"]},
        geoip={"city": str(DATA / "city-test.mmdb")},
        log={"queries": True, "query_sample": 1.0},
    )
    proc = ServerProcess(["serve", "--config", str(conf)]).start()
    try:
        host, port = proc.bound[0]
        ecs = [dns.edns.ECSOption.from_text("81.2.69.0/24")]
        q = dns.message.make_query("www.geo.test", "A", use_edns=0, options=ecs)
        assert dns.query.udp(q, host, port=port, timeout=3).options
        data = yaml.safe_load(conf.read_text())
        data["ecs"] = {"enabled": False}
        data["dns"]["listen"] = ["127.0.0.1:1"]  # needs a restart: logged, not applied
        conf.write_text(yaml.safe_dump(data))
        proc.signal()
        deadline = __import__("time").monotonic() + 10
        while dns.query.udp(q, host, port=port, timeout=3).options:
            assert __import__("time").monotonic() < deadline, proc.log
    finally:
        proc.stop()
    assert "query from 127.0.0.1 ecs 81.2.69.0/24: zone geo.test. pool gb scope 24" in proc.log
    assert "dns settings changed; they take effect after a restart" in proc.log
