"""Health checks against real local endpoints move answers; drain through the API; metrics."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import ServerThread, wait_for, write_config

# Who answers matters here: `make test` runs these again with two workers and on the
# Python fast path (-m workers, -m fast_path).
pytestmark = [pytest.mark.workers, pytest.mark.fast_path]

INTERVAL, TIMEOUT, RISE, FALL = 0.2, 0.2, 2, 2


class Endpoint:
    """A real HTTP server on a fixed loopback port that can be stopped, restarted, degraded."""

    def __init__(self) -> None:
        self.body = b"status: ok"
        self.status = 200
        self.port = 0
        self.server: http.server.ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args) -> None:
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


class TcpEndpoint:
    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


ZONE = """\
zone: hc.test.
ttl: 5
ns: [ns1.hc.test.]
checks:
  web: {{type: http, port: {http}, path: /health, contains: "ok", interval: {i}s, timeout: {t}s,
         rise: {rise}, fall: {fall}, target: "127.0.0.1:{http}"}}
pools:
  primary: {{addresses: [192.0.2.1], check: web}}
  backup:
    addresses: [192.0.2.2]
    check: {{type: tcp, port: {tcp}, target: "127.0.0.1:{tcp}", interval: {i}s, timeout: {t}s}}
records:
  ns1: {{A: 192.0.2.53}}
  svc: {{failover: [primary, backup]}}
"""


@pytest.fixture
def setup(tmp_path: Path):
    web, tcp = Endpoint(), TcpEndpoint()
    zones = tmp_path / "zones"
    zones.mkdir()
    text = ZONE.format(http=web.port, tcp=tcp.port, i=INTERVAL, t=TIMEOUT, rise=RISE, fall=FALL)
    (zones / "hc.test.yaml").write_text(text)
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    conf = write_config(
        tmp_path,
        zones,
        dns={"listen": ["127.0.0.1:0"]},
        http={"listen": "127.0.0.1:0", "token_file": str(token)},
    )
    server = ServerThread(conf).start()
    yield server, web, tcp
    server.stop()
    tcp.close()
    with contextlib.suppress(Exception):
        web.stop()


def answer(server: ServerThread) -> str:
    reply = server.udp(dns.message.make_query("svc.hc.test", "A"))
    return reply.answer[0][0].address


def post(server: ServerThread, path: str, token: str | None) -> int:
    host, port = server.app.http_bound
    req = urllib.request.Request(f"http://{host}:{port}{path}", method="POST", data=b"")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def get(server: ServerThread, path: str) -> tuple[int, str]:
    host, port = server.app.http_bound
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_stop_and_restart_move_answers(setup) -> None:
    server, web, _ = setup
    assert answer(server) == "192.0.2.1"
    web.stop()
    started = time.monotonic()
    wait_for(lambda: answer(server) == "192.0.2.2", timeout=10)
    took_down = time.monotonic() - started
    # fall x interval (+10% jitter) + timeout, plus scheduling slack
    assert took_down <= FALL * INTERVAL * 1.1 + TIMEOUT + 0.5
    web.start()
    started = time.monotonic()
    wait_for(lambda: answer(server) == "192.0.2.1", timeout=10)
    took_up = time.monotonic() - started
    assert (RISE - 1) * INTERVAL * 0.9 <= took_up <= RISE * INTERVAL * 1.1 + 0.5


def test_body_without_contains_is_down(setup) -> None:
    server, web, _ = setup
    web.body = b"status: degraded"
    wait_for(lambda: answer(server) == "192.0.2.2", timeout=10)
    web.body = b"status: ok"
    wait_for(lambda: answer(server) == "192.0.2.1", timeout=10)


def test_wrong_status_is_down(setup) -> None:
    server, web, _ = setup
    web.status = 503
    wait_for(lambda: answer(server) == "192.0.2.2", timeout=10)


def test_drain_needs_the_token(setup) -> None:
    server, _, _ = setup
    path = "/api/v1/pools/hc.test./primary/members/192.0.2.1/drain"
    assert post(server, path, None) == 401
    assert post(server, path, "wrong") == 401
    assert answer(server) == "192.0.2.1"
    assert post(server, path, "s3cret") == 200
    assert answer(server) == "192.0.2.2"  # drained counts as down, at once
    assert post(server, "/api/v1/pools/hc.test/primary/members/192.0.2.9/drain", "s3cret") == 404
    assert post(server, path.replace("/drain", "/undrain"), "s3cret") == 200
    assert answer(server) == "192.0.2.1"


def test_status_readyz_healthz(setup) -> None:
    server, _web, _ = setup
    assert get(server, "/healthz")[0] == 200
    assert get(server, "/readyz")[0] == 200
    code, body = get(server, "/api/v1/status")
    assert code == 200 and '"primary"' in body and '"state": "up"' in body
    code, body = get(server, "/api/v1/explain?name=svc.hc.test&type=A&client=192.0.2.77")
    assert code == 200 and "192.0.2.1" in body and "failover" in body


def test_metrics_match_what_was_sent(setup) -> None:
    server, web, _ = setup
    sent = {("NOERROR", "udp"): 0}
    for _ in range(25):
        answer(server)
        sent[("NOERROR", "udp")] += 1
    server.tcp(dns.message.make_query("svc.hc.test", "AAAA"))
    server.udp(dns.message.make_query("nope.hc.test", "A"))
    server.udp(dns.message.make_query("elsewhere.example", "A"))
    web.stop()
    wait_for(lambda: answer(server) == "192.0.2.2", timeout=10)
    text = get(server, "/metrics")[1]
    families = {f.name: f for f in text_string_to_metric_families(text)}
    expected = [
        "geodns_queries",
        "geodns_responses_by_pool",
        "geodns_query_duration_seconds",
        "geodns_health_member_up",
        "geodns_health_checks",
        "geodns_health_transitions",
        "geodns_zone_reloads",
        "geodns_zone_serial",
        "geodns_geoip_cache_hits",
        "geodns_tcp_connections",
        "geodns_build_info",
        "geodns_geoip_database_build_timestamp_seconds",
    ]
    for name in expected:
        assert name in families, name

    def value(family: str, suffix: str = "_total", **labels) -> float:
        return sum(
            s.value
            for s in families[family].samples
            if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items())
        )

    a_udp = value("geodns_queries", zone="hc.test.", qtype="A", rcode="NOERROR", transport="udp")
    assert a_udp >= 26  # 25 before the outage, plus the polls while waiting for it
    assert value("geodns_queries", zone="hc.test.", qtype="AAAA", transport="tcp") == 1
    assert value("geodns_queries", zone="hc.test.", rcode="NXDOMAIN") == 1
    assert value("geodns_queries", zone="(none)", rcode="REFUSED") == 1
    by_pool = value("geodns_responses_by_pool", zone="hc.test.", name="svc.hc.test.")
    assert by_pool == a_udp + 1  # every policy answer, AAAA included, names its pool
    assert value("geodns_health_member_up", "", pool="primary") == 0
    assert value("geodns_health_member_up", "", pool="backup") == 1
    assert value("geodns_health_transitions", pool="primary", to="down") == 1
    assert value("geodns_health_checks", pool="primary", result="fail") >= FALL
    assert value("geodns_zone_serial", "", zone="hc.test.") > 0
