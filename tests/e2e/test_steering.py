"""Issue 15's must-shows against real servers: capacity from Debian's Prometheus scraping an
exporter the test controls, sticky weighted over 3,000 ECS /24s, measured RTTs by POST.

Every phase waits (by polling with a deadline) until the server says the new state reached
every worker, then counts answers over UDP."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import dns.edns
import dns.message
import pytest

from geodns.native import table as native_table
from tests.e2e.steerkit import Exporter, Prometheus, ask_many, capacity, http, shares
from tests.servers import DATA, REPO, ServerThread, wait_for, write_config

TOKEN = "steer-token-1234"
GPU = """\
zone: gpu.test.
ttl: 5
ns: [ns1.gpu.test.]
pools:
  a: {addresses: [192.0.2.1], capacity: {query: 'max(gpu_util{pool="a"})', low: 0.7, high: 0.9}}
  b: {addresses: [192.0.2.2], capacity: {query: 'max(gpu_util{pool="b"})', low: 0.7, high: 0.9}}
records:
  ns1: {A: 192.0.2.53}
  infer: {weighted: {a: 1, b: 1}}
  near: {latency: [a, b], rtt: {country:GB: {a: 1, b: 2}}}
"""
A, B = "192.0.2.1", "192.0.2.2"


@pytest.fixture
def gpu(tmp_path: Path):
    exporter = Exporter()
    exporter.values = {"a": 0.5, "b": 0.5}
    prom = Prometheus(tmp_path, exporter.address)
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "gpu.test.yaml").write_text(GPU)
    conf = write_config(
        tmp_path,
        zones,
        dns={"listen": ["127.0.0.1:0"], "workers": 2},
        prometheus={"url": prom.url, "interval": "0.3s", "timeout": "1s", "stale_after": "3s"},
    )
    server = ServerThread(conf).start()
    yield server, exporter, prom
    server.stop()
    prom.stop()
    exporter.close()


def settle(server: ServerThread, want: dict[str, tuple[str, float]]) -> None:
    """Wait until status shows each pool's (status, factor), then for every worker."""

    def there() -> bool:
        found = capacity(server)
        return all(
            found[p]["status"] == st and found[p]["factor"] == pytest.approx(f)
            for p, (st, f) in want.items()
        )

    wait_for(there, timeout=20, interval=0.1)
    assert server.call(server.app.health_synced)


def test_capacity_from_prometheus_steers_every_policy(gpu) -> None:
    server, exporter, prom = gpu
    settle(server, {"a": ("ok", 1.0), "b": ("ok", 1.0)})
    assert abs(shares(server, "infer.gpu.test", 1500)[A] - 0.5) <= 0.07  # both under low
    exporter.values["a"] = 0.8  # the midpoint of low and high: its weight halves
    settle(server, {"a": ("ok", 0.5), "b": ("ok", 1.0)})
    assert abs(shares(server, "infer.gpu.test", 1500).get(A, 0) - 1 / 3) <= 0.07
    exporter.values["a"] = 0.95  # above high: shed
    settle(server, {"a": ("ok", 0.0)})
    assert shares(server, "infer.gpu.test", 1500) == {B: 1.0}
    assert set(ask_many(server, "near.gpu.test", [None] * 50)) == {B}  # latency skips a
    status = capacity(server)["a"]
    assert status["load"] == pytest.approx(0.95) and "shed" in status["why"]
    metrics = http_text(server, "/metrics")
    assert 'geodns_pool_load{pool="a",zone="gpu.test."} 0.95' in metrics
    assert 'geodns_pool_capacity_factor{pool="a",zone="gpu.test."} 0.0' in metrics
    exporter.values["b"] = 0.95  # both above high: answers go on as configured
    settle(server, {"a": ("ok", 0.0), "b": ("ok", 0.0)})
    assert abs(shares(server, "infer.gpu.test", 1500)[A] - 0.5) <= 0.07
    assert set(ask_many(server, "near.gpu.test", [None] * 50)) == {A}
    exporter.values["b"] = 0.5
    settle(server, {"a": ("ok", 0.0), "b": ("ok", 1.0)})
    prom.stop()  # no fresh load: after stale_after, no shedding and status says so
    settle(server, {"a": ("stale", 1.0), "b": ("stale", 1.0)})
    assert "no shedding" in capacity(server)["a"]["why"]
    assert abs(shares(server, "infer.gpu.test", 1500)[A] - 0.5) <= 0.07


def test_explain_shows_load_factor_and_why(gpu) -> None:
    server, exporter, _ = gpu
    exporter.values["a"] = 0.85
    settle(server, {"a": ("ok", 0.25)})
    code, report = http(server, "/api/v1/explain?name=infer.gpu.test&client=127.0.0.1")
    assert code == 200
    step = report["path"][-1]
    assert "a x 0.25 (load 0.85 between low 0.7 and high 0.9" in step, step
    assert "b x 1.00 (load 0.5 <= low 0.7: full share)" in step, step


def http_text(server: ServerThread, path: str) -> str:
    host, port = server.app.http_bound
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as resp:
        return resp.read().decode()


STICKY = """\
zone: sticky.test.
ttl: 5
ns: [ns1.sticky.test.]
pools:
  a: {addresses: [192.0.2.1]}
  b: {addresses: [192.0.2.2]}
  c: {addresses: [192.0.2.3]}
records:
  ns1: {A: 192.0.2.53}
  s: {weighted: {a: 1, b: 1, c: 1}, sticky: true}
"""
NETS = [f"{10 + i // 200}.{i % 200}.{i % 7}.0/24" for i in range(3000)]


@pytest.fixture
def sticky(tmp_path: Path):
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "sticky.test.yaml").write_text(STICKY)
    (tmp_path / "token").write_text(TOKEN)
    conf = write_config(
        tmp_path,
        zones,
        dns={"listen": ["127.0.0.1:0"]},
        http={"listen": "127.0.0.1:0", "token_file": str(tmp_path / "token")},
    )
    server = ServerThread(conf).start()
    yield server, zones
    server.stop()


def test_sticky_moves_only_the_clients_of_the_pool_that_changed(sticky) -> None:
    server, zones = sticky
    before = ask_many(server, "s.sticky.test", NETS)
    own = [i for i, a in enumerate(before) if a == "192.0.2.1"]
    assert all(abs(before.count(x) / 3000 - 1 / 3) < 0.04 for x in set(before))
    drain = "/api/v1/pools/sticky.test./a/members/192.0.2.1/drain"
    assert http(server, drain + "?force=true", "POST", token=TOKEN)[0] == 200
    during = ask_many(server, "s.sticky.test", NETS)
    moved = [i for i in range(3000) if before[i] != during[i]]
    assert moved == own  # 0 clients of b and c moved; all of a's did
    onto_b = sum(during[i] == "192.0.2.2" for i in moved) / len(moved)
    assert abs(onto_b - 0.5) < 0.07  # spread by weight over b and c
    undrain = drain.replace("/drain", "/undrain")
    assert http(server, undrain, "POST", token=TOKEN)[0] == 200
    assert ask_many(server, "s.sticky.test", NETS) == before  # every client back
    (zones / "sticky.test.yaml").write_text(STICKY.replace("{a: 1, b: 1", "{a: 2, b: 1"))
    assert server.call(server.app.reload)
    after = ask_many(server, "s.sticky.test", NETS)
    moved = [i for i in range(3000) if before[i] != after[i]]
    assert all(after[i] == "192.0.2.1" for i in moved)  # all onto the pool that grew
    assert abs(len(moved) / 3000 - 1 / 6) < 0.03, len(moved)
    q = dns.message.make_query(
        "s.sticky.test", "A", use_edns=0, options=[dns.edns.ECSOption.from_text("10.1.2.0/24")]
    )
    assert server.udp(q).options[0].scopelen == 24  # the hashed prefix


RTT = """\
zone: rtt.test.
ttl: 5
ns: [ns1.rtt.test.]
pools:
  eu: {addresses: [192.0.2.10], location: {lat: 50.1, lon: 8.7}}
  na: {addresses: [192.0.2.20], location: {lat: 39.0, lon: -77.5}}
records:
  ns1: {A: 192.0.2.53}
  api: {latency: [eu, na]}
"""
EU, NA = "192.0.2.10", "192.0.2.20"
# 5.1.0.0/16 is one GeoIP network (DE, Berlin) in tests/data/city-test.mmdb; 81.2.69.0/24 GB.
MEASURED, NEIGHBOUR, FAR, GB = "5.1.7.0/24", "5.1.8.0/24", "5.1.200.0/24", "81.2.69.0/24"


def rtt_server(tmp_path: Path) -> ServerThread:
    zones = tmp_path / "zones"
    zones.mkdir(exist_ok=True)
    (zones / "rtt.test.yaml").write_text(RTT)
    (tmp_path / "token").write_text(TOKEN)
    conf = write_config(
        tmp_path,
        zones,
        dns={"listen": ["127.0.0.1:0"], "workers": 2},
        http={"listen": "127.0.0.1:0", "token_file": str(tmp_path / "token")},
        geoip={"city": str(DATA / "city-test.mmdb")},
        state_dir=str(tmp_path / "state"),
    )
    return ServerThread(conf).start()


def picks(server: ServerThread, *nets: str) -> list[str]:
    """Each network's answer, asked 20 times over fresh sockets (both workers answer)."""
    out = []
    for net in nets:
        seen = set()
        for _ in range(20):
            seen |= set(ask_many(server, "api.rtt.test", [net]))
        assert len(seen) == 1, (net, seen)
        out.append(seen.pop())
    return out


def test_measured_rtt_steers_a_network_then_a_country(tmp_path: Path) -> None:
    server = rtt_server(tmp_path)
    try:
        assert picks(server, MEASURED, NEIGHBOUR, GB) == [EU, EU, EU]  # by distance
        body = [
            {"client": MEASURED, "pool": "na", "rtt_ms": 10},
            {"client": MEASURED, "pool": "eu", "rtt_ms": 80},
        ]
        assert http(server, "/api/v1/rtt/rtt.test", "POST", body)[0] == 401
        assert http(server, "/api/v1/rtt/rtt.test", "POST", body, token="nope")[0] == 401
        code, reply = http(server, "/api/v1/rtt/rtt.test", "POST", body, token=TOKEN)
        assert (code, reply["accepted"], reply["synced"]) == (200, 2, True)
        assert picks(server, MEASURED, NEIGHBOUR, FAR, GB) == [NA, EU, EU, EU]
        country = [
            {"client": "country:DE", "pool": "na", "rtt_ms": 20},
            {"client": "country:DE", "pool": "eu", "rtt_ms": 70},
        ]
        assert http(server, "/api/v1/rtt/rtt.test.", "POST", country, token=TOKEN)[0] == 200
        assert picks(server, NEIGHBOUR, FAR, GB) == [NA, NA, EU]  # the rest of DE, not GB
        network = [
            {"client": MEASURED, "pool": "eu", "rtt_ms": 5},
            {"client": MEASURED, "pool": "na", "rtt_ms": 5},
        ]
        http(server, "/api/v1/rtt/rtt.test", "POST", network, token=TOKEN)  # smoothed, not replaced
        code, report = http(
            server, f"/api/v1/explain?name=api.rtt.test&client=127.0.0.1&ecs={NEIGHBOUR}"
        )
        assert report["path"][0].startswith("latency by measured country:DE"), report["path"]
        assert report["ecs_scope"] == 24
        bad = [{"client": "nowhere", "pool": "moon", "rtt_ms": "fast"}]
        code, reply = http(server, "/api/v1/rtt/rtt.test", "POST", bad, token=TOKEN)
        assert code == 400 and len(reply["problems"]) == 3
    finally:
        server.stop()
    again = rtt_server(tmp_path)  # state_dir: the measurements survive a restart
    try:
        assert picks(again, NEIGHBOUR, GB) == [NA, EU]
    finally:
        again.stop()


def test_rtt_post_tool_turns_probe_results_into_posts(tmp_path: Path) -> None:
    server = rtt_server(tmp_path)
    tool = [sys.executable, str(REPO / "deploy" / "tools" / "rtt-post.py")]
    host, port = server.app.http_bound
    common = ["--url", f"http://{host}:{port}", "--zone", "rtt.test", "--token-file"]
    common.append(str(tmp_path / "token"))
    try:
        csv_text = f"client,pool,rtt_ms\n{NEIGHBOUR},na,9\n{NEIGHBOUR},eu,70\n"
        done = subprocess.run(tool + common, input=csv_text, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert picks(server, NEIGHBOUR, MEASURED) == [NA, EU]
        with socket.create_server(("127.0.0.1", 0)) as listener:  # a pool endpoint to time
            target = f"eu=127.0.0.1:{listener.getsockname()[1]}"
            args = ["--probe", "--client", "asn:3320", "--count", "2", target]
            done = subprocess.run(tool + common + args, capture_output=True, text=True)
        assert done.returncode == 0 and '"accepted": 1' in done.stdout, done.stdout + done.stderr
        status = http(server, "/api/v1/status")[1]["steering"]["rtt"]["rtt.test."]
        assert status == {"measurements": 3, "by_kind": {"network": 2, "asn": 1}}
    finally:
        server.stop()


@pytest.mark.skipif(not native_table.available(), reason="geodns._native not built")
def test_rtts_measured_per_network_are_answered_by_the_native_engine(tmp_path: Path) -> None:
    """Posted network RTTs split the compiled classes (geo/measuredsplit.py): the workers'
    native threads answer the steered network and its neighbours, none handed over; an
    ASN measurement sends the zone back to the handler (per query)."""
    server = rtt_server(tmp_path)

    def engine() -> dict:
        return dict(server.call(server.app.counters).stats.engine)

    try:
        body = [
            {"client": MEASURED, "pool": "na", "rtt_ms": 10},
            {"client": MEASURED, "pool": "eu", "rtt_ms": 80},
        ]
        assert http(server, "/api/v1/rtt/rtt.test", "POST", body, token=TOKEN)[0] == 200
        before = engine()
        assert picks(server, MEASURED, NEIGHBOUR, FAR) == [NA, EU, EU]
        after = engine()
        native = after[("udp", "native")] - before[("udp", "native")]
        assert native >= 60 and after[("udp", "python")] == before[("udp", "python")]
        asn = [{"client": "asn:64500", "pool": "eu", "rtt_ms": 1}]
        assert http(server, "/api/v1/rtt/rtt.test", "POST", asn, token=TOKEN)[0] == 200
        assert picks(server, MEASURED) == [NA]
        assert engine()[("udp", "python")] - after[("udp", "python")] >= 20
    finally:
        server.stop()
