"""deploy/prometheus/alerts.yaml and deploy/grafana/geodns.json against Debian's real
Prometheus, scraping a real geodns every second while dnspython queries it.

Every alert and dashboard expression must evaluate without error through the HTTP API; at
least 3 in 4 dashboard expressions must return data under load; every rule group must be
healthy in /api/v1/rules. `promtool check rules` must be clean.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import dns.message
import pytest
import yaml

from tests.servers import DATA, REPO, ServerThread, wait_for, write_config

ALERTS = REPO / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "geodns.json"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
LOAD_SECONDS = 18.0
QPS = 300  # spread over two sender threads

ZONE = """\
zone: watch.test.
ttl: 5
ns: [ns1.watch.test.]
checks:
  live: {{type: tcp, port: {open}, target: "127.0.0.1:{open}", interval: 0.5s, timeout: 0.3s}}
  dead: {{type: tcp, port: {closed}, target: "127.0.0.1:{closed}", interval: 0.5s,
          timeout: 0.3s, rise: 1, fall: 1}}
pools:
  main: {{addresses: [192.0.2.1, 192.0.2.2], check: live, min_healthy: 1}}
  spare: {{addresses: [192.0.2.3], check: dead}}
  plain: {{addresses: [192.0.2.4]}}
records:
  ns1: {{A: 192.0.2.53}}
  svc: {{failover: [main, spare]}}
  lone: {{failover: [spare, plain]}}
  big: {{TXT: [{big}]}}
"""


def alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dash["panels"] for t in panel.get("targets", [])]


def as_query(expr: str) -> str:
    """A dashboard expression as Grafana would send it: variables filled in."""
    return expr.replace("$__rate_interval", "30s").replace("$instance", ".*")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # a bad expression: 400 with the error in JSON
        return json.loads(exc.read())


def test_promtool_checks_the_rules() -> None:
    if not Path(PROMTOOL).exists():
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_exprs())} rules found" in done.stdout
    example = ALERTS.parent / "prometheus.yml"  # the scrape config we suggest, rules included
    done = subprocess.run(
        [PROMTOOL, "check", "config", str(example)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_and_dashboard_shape() -> None:
    """Each rule has a for:, a severity and both annotations; the dashboard covers the
    issue's list of panels with a unique id each."""
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule.get("for"), rule["alert"]
            assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) >= 8
    text = " ".join(dashboard_exprs())
    for metric in (
        "geodns_queries_total",
        "geodns_query_duration_seconds_bucket",
        "geodns_request_size_bytes_bucket",
        "geodns_response_size_bytes_bucket",
        "geodns_responses_by_pool_total",
        "geodns_health_member_state",
        "geodns_health_transitions_total",
        "geodns_zone_reloads_total",
        "geodns_geoip_database_build_timestamp_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert metric in text, metric


@pytest.fixture
def geodns(tmp_path: Path):
    listener = socket.create_server(("127.0.0.1", 0))
    zones = tmp_path / "zones"
    zones.mkdir()
    big = ", ".join(f'"{c * 200}"' for c in "abc")
    zone = ZONE.format(open=listener.getsockname()[1], closed=free_port(), big=big)
    (zones / "watch.test.yaml").write_text(zone)
    shutil.copy(REPO / "zones" / "gslb.example.com.yaml", zones)
    conf = write_config(
        tmp_path,
        zones,
        dns={"listen": ["127.0.0.1:0"]},
        geoip={"city": str(DATA / "city-test.mmdb")},
    )
    server = ServerThread(conf).start()
    yield server
    server.stop()
    listener.close()


@pytest.fixture
def prometheus(tmp_path: Path, geodns: ServerThread):
    if not Path(PROMETHEUS).exists():
        pytest.skip("the prometheus binary is not installed (Debian: apt-get install prometheus)")
    host, port = geodns.app.http_bound
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": "geodns", "static_configs": [{"targets": [f"{host}:{port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    listen = f"127.0.0.1:{free_port()}"
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address={listen}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://{listen}"

    def ready() -> bool:
        assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    try:
        wait_for(ready, timeout=20, interval=0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def send_load(server: ServerThread, seconds: float, qps: int, stop: threading.Event) -> int:
    """Paced queries over UDP (and every 20th over TCP): policies, NXDOMAIN, REFUSED, TC."""
    host, port = server.where(4)
    names = [
        ("svc.watch.test", "A"),
        ("lone.watch.test", "A"),
        ("www.gslb.example.com", "A"),
        ("api.gslb.example.com", "AAAA"),
        ("canary.gslb.example.com", "A"),
        ("nothere.watch.test", "A"),
        ("elsewhere.example", "A"),
    ]
    queries = [dns.message.make_query(n, t).to_wire() for n, t in names]
    big = dns.message.make_query("big.watch.test", "TXT", use_edns=False).to_wire()
    sent, start = 0, time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)
        while not stop.is_set() and time.monotonic() - start < seconds:
            wire = big if sent % 50 == 0 else queries[sent % len(queries)]
            if sent % 20 == 1:
                server.tcp(dns.message.from_wire(wire))
            else:
                sock.sendto(wire, (host, port))
                sock.recv(65535)
            sent += 1
            ahead = sent / qps - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    return sent


def test_every_expression_evaluates_against_real_prometheus(geodns, prometheus) -> None:
    stop = threading.Event()
    counts: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: counts.append(send_load(geodns, LOAD_SECONDS, QPS // 2, stop))
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LOAD_SECONDS + 30)
    stop.set()
    assert sum(counts) > LOAD_SECONDS * QPS * 0.5, counts  # a few hundred per second

    errors, empty = [], []
    for expr in alert_exprs():
        reply = api(prometheus, "/api/v1/query", query=expr)
        if reply["status"] != "success":
            errors.append((expr, reply.get("error")))
    exprs = dashboard_exprs()
    nan = []  # the latency, size and GeoIP panels draw numbers on the native path too
    for expr in exprs:
        reply = api(prometheus, "/api/v1/query", query=as_query(expr))
        if reply["status"] != "success":
            errors.append((expr, reply.get("error")))
        elif not reply["data"]["result"]:
            empty.append(expr)
        elif any(m in expr for m in ("duration_seconds", "size_bytes", "geoip_cache")) and all(
            r["value"][1] == "NaN" for r in reply["data"]["result"]
        ):
            nan.append(expr)
    print(f"sent {sum(counts)}; {len(exprs) - len(empty)} of {len(exprs)} with data: {empty}")
    assert not errors, errors
    assert len(empty) <= len(exprs) // 4, f"{len(empty)} of {len(exprs)} empty: {empty}"
    observed = [e for e in exprs if "duration_seconds" in e or "size_bytes" in e]
    assert len(observed) == 6 and not [e for e in observed if e in empty] and not nan, (
        empty,
        nan,
    )

    def evaluated() -> list[dict]:
        groups = api(prometheus, "/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if len(rules) == len(alert_exprs()) and all(r["health"] != "unknown" for r in rules):
            return rules
        return []

    rules = wait_for(evaluated, timeout=10, interval=0.2)
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    # The dead member is down from the first check: its state series says so in Prometheus
    down = api(prometheus, "/api/v1/query", query='geodns_health_member_state{state="down"} == 1')[
        "data"
    ]["result"]
    assert [r["metric"]["address"] for r in down] == ["192.0.2.3"]
