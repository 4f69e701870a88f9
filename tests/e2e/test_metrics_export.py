"""What /metrics exports (issue 13): its Content-Type, process_*, member states, REFUSED
without an empty zone, TC answers, refused TCP connections, GeoIP reload failures, bounded
query types, and explain calls left out of the traffic counters."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import DATA, ServerThread, write_config

# Answered natively or in Python: `make test` runs these again on the Python fast path
# (-m fast_path).
pytestmark = [pytest.mark.fast_path]

BIG_TXT = ", ".join(f'"{c * 200}"' for c in "abc")  # 600+ bytes: over 512 without EDNS
ZONE = """\
zone: mx.test.
ttl: 5
ns: [ns1.mx.test.]
checks:
  live: {{type: tcp, port: {open}, target: "127.0.0.1:{open}", interval: 0.2s, timeout: 0.2s,
          rise: 1, fall: 1}}
  dead: {{type: tcp, port: {closed}, target: "127.0.0.1:{closed}", interval: 0.2s,
          timeout: 0.2s, rise: 1, fall: 1}}
pools:
  checked: {{addresses: [192.0.2.1, 192.0.2.2], check: live, min_healthy: 1}}
  failing: {{addresses: [192.0.2.3], check: dead}}
  plain: {{addresses: [192.0.2.4]}}
records:
  ns1: {{A: 192.0.2.53}}
  svc: {{failover: [checked, failing, plain]}}
  big: {{TXT: [{big}]}}
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("metrics")
    listener = socket.create_server(("127.0.0.1", 0))  # what the `live` check connects to
    zones = tmp / "zones"
    zones.mkdir()
    text = ZONE.format(open=listener.getsockname()[1], closed=_closed_port(), big=BIG_TXT)
    (zones / "mx.test.yaml").write_text(text)
    (tmp / "token").write_text("s3cret\n")
    city = tmp / "city.mmdb"
    shutil.copy(DATA / "city-test.mmdb", city)
    conf = write_config(
        tmp,
        zones,
        dns={"listen": ["127.0.0.1:0"], "workers": 1, "tcp_max_per_source": 2},
        http={"listen": "127.0.0.1:0", "token_file": str(tmp / "token")},
        geoip={"city": str(city)},
    )
    server = ServerThread(conf).start()
    yield server, city
    server.stop()
    listener.close()


def http(server: ServerThread, path: str, method: str = "GET") -> tuple[int, dict, str]:
    host, port = server.app.http_bound
    req = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
    if method == "POST":
        req.add_header("Authorization", "Bearer s3cret")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def samples(server: ServerThread) -> list:
    """Every sample of a fresh scrape."""
    text = http(server, "/metrics")[2]
    return [s for f in text_string_to_metric_families(text) for s in f.samples]


def value(all_samples: list, name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in all_samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_content_type_and_process_metrics(served) -> None:
    server, _ = served
    server.udp(dns.message.make_query("svc.mx.test", "A"))
    status, headers, _ = http(server, "/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    got = samples(server)
    names = {s.name for s in got}
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "geodns_workers_cpu_seconds_total",
        "geodns_worker_resident_memory_bytes",
        "geodns_worker_stats_age_seconds",
        "geodns_pool_min_healthy",
        "geodns_ready",
    ):
        assert name in names, name
    assert value(got, "geodns_workers_cpu_seconds_total") > 0
    assert value(got, "geodns_ready") == 1
    assert 0 <= value(got, "geodns_worker_stats_age_seconds", slot="0") < 2  # asked for this scrape
    assert value(got, "geodns_pool_min_healthy", zone="mx.test.", pool="checked") == 1
    assert not [
        s for s in got if s.name == "geodns_pool_min_healthy" and s.labels["pool"] != "checked"
    ]
    assert value(got, "geodns_worker_resident_memory_bytes", slot="0") > 1_000_000


def test_member_states_tell_up_down_drained_unchecked(served) -> None:
    server, _ = served
    drain = "/api/v1/pools/mx.test./checked/members/192.0.2.2/drain"
    assert http(server, drain, "POST")[0] == 200
    try:
        got = samples(server)

        def state(pool: str, address: str) -> set[str]:
            return {
                s.labels["state"]
                for s in got
                if s.name == "geodns_health_member_state"
                and s.labels["pool"] == pool
                and s.labels["address"] == address
                and s.value == 1
            }

        assert state("checked", "192.0.2.1") == {"up"}
        assert state("checked", "192.0.2.2") == {"drained"}
        assert state("failing", "192.0.2.3") == {"down"}
        assert state("plain", "192.0.2.4") == {"unchecked"}
        # one sample per state per member, only one of them 1
        per_member = [s for s in got if s.name == "geodns_health_member_state"]
        assert len(per_member) == 4 * 5
        assert value(got, "geodns_health_member_up", pool="checked", address="192.0.2.2") == 0
        assert value(got, "geodns_health_member_up", pool="plain") == 1
        # /api/v1/status says the same word for every member as the metric
        report = json.loads(http(server, "/api/v1/status")[2])
        said = {
            (pool["name"], member["address"]): member["state"]
            for zone in report["zones"]
            for pool in zone["pools"]
            for member in pool["members"]
        }
        assert said == {
            ("checked", "192.0.2.1"): "up",
            ("checked", "192.0.2.2"): "drained",
            ("failing", "192.0.2.3"): "down",
            ("plain", "192.0.2.4"): "unchecked",
        }
    finally:
        assert http(server, drain.replace("/drain", "/undrain"), "POST")[0] == 200


def test_refused_counted_under_none_not_empty(served) -> None:
    server, _ = served
    before = value(samples(server), "geodns_queries_total", zone="(none)", rcode="REFUSED")
    for _ in range(3):
        reply = server.udp(dns.message.make_query("www.elsewhere.example", "A"))
        assert reply.rcode() == dns.rcode.REFUSED
    got = samples(server)
    after = value(got, "geodns_queries_total", zone="(none)", rcode="REFUSED", transport="udp")
    assert after - before == 3
    assert not [s for s in got if s.name == "geodns_queries_total" and s.labels["zone"] == ""]


def test_truncated_answers_counted(served) -> None:
    server, _ = served
    before = value(samples(server), "geodns_truncated_responses_total")
    query = dns.message.make_query("big.mx.test", "TXT", use_edns=False)
    for _ in range(2):
        reply = server.udp(query)
        assert reply.flags & dns.flags.TC
    assert server.tcp(query).answer  # over TCP: the whole answer, not counted as TC
    assert value(samples(server), "geodns_truncated_responses_total") - before == 2


def test_tcp_refused_per_source_counted(served) -> None:
    server, _ = served
    addr = server.where(4)
    before = value(samples(server), "geodns_tcp_connections_refused_total", reason="per_source")
    held = [socket.create_connection(addr, timeout=3) for _ in range(2)]
    try:
        wire = dns.message.make_query("ns1.mx.test", "A")
        for sock in held:  # both accepted and answering
            assert dns.query.send_tcp(sock, wire) and dns.query.receive_tcp(sock)[0].answer
        with socket.create_connection(addr, timeout=3) as third:
            third.sendall(len(wire.to_wire()).to_bytes(2, "big") + wire.to_wire())
            # closed unanswered (a reset or EOF): over dns.tcp_max_per_source
            with contextlib.suppress(ConnectionResetError):
                assert third.recv(2) == b""
    finally:
        for sock in held:
            sock.close()
    got = samples(server)
    assert value(got, "geodns_tcp_connections_refused_total", reason="per_source") - before == 1
    assert value(got, "geodns_tcp_connections_accepted_total") >= 2


def test_geoip_reload_failure_counted(served) -> None:
    server, city = served
    assert value(samples(server), "geodns_geoip_reload_failures_total") == 0
    good = city.read_bytes()
    try:
        city.write_bytes(b"not a MaxMind database" * 100)
        assert server.call(lambda: server.app.reload_geoip(settled=True)) is False
        got = samples(server)
        assert value(got, "geodns_geoip_reload_failures_total") == 1
        assert value(got, "geodns_reload_last_success", kind="geoip") == 0  # until a good one
        assert server.call(lambda: server.app.reload_geoip(settled=True)) is False
        assert value(samples(server), "geodns_reload_last_success", kind="geoip") == 0
    finally:
        city.write_bytes(good)
        assert server.call(lambda: server.app.reload_geoip(settled=True)) is True
    assert value(samples(server), "geodns_reload_last_success", kind="geoip") == 1


def test_last_zone_reload_result_stays_until_a_good_one(served) -> None:
    """The gauge the reload alert reads: 0 from a failed reload for as long as no reload
    succeeds (the counter's increase would forget it), 1 again after a good one."""
    server, _ = served
    zone = Path(server.app.config.zones_dir) / "mx.test.yaml"
    good = zone.read_text()
    assert value(samples(server), "geodns_reload_last_success", kind="zones") == 1
    try:
        zone.write_text(good + "\nnot: [valid\n")
        assert server.call(server.app.reload) is False
        assert server.call(server.app.reload) is False
        got = samples(server)
        assert value(got, "geodns_reload_last_success", kind="zones") == 0
        assert value(got, "geodns_zone_reloads_total", result="error") >= 2
    finally:
        zone.write_text(good)
        assert server.call(server.app.reload) is True
    assert value(samples(server), "geodns_reload_last_success", kind="zones") == 1


def test_explain_is_not_traffic(served) -> None:
    server, _ = served
    server.udp(dns.message.make_query("svc.mx.test", "A"))

    def traffic() -> tuple[float, float]:
        got = samples(server)
        return value(got, "geodns_queries_total"), value(got, "geodns_responses_by_pool_total")

    before = traffic()
    stats = server.app.handler.stats  # the process that answers explain
    for _ in range(20):
        status, _, body = http(server, "/api/v1/explain?name=svc.mx.test&type=A&client=192.0.2.9")
        assert status == 200 and "192.0.2.1" in body
    assert traffic() == before
    assert stats.total() == 0 and not stats.by_pool  # counted nowhere, not even unexported


def test_random_query_types_add_one_other_series(served) -> None:
    """Must-show 3: 1,000 queries of random types give at most one `other` series per zone,
    rcode and transport."""
    server, _ = served
    host, port = server.where(4)
    rng = random.Random(13)
    names = ["svc.mx.test", "nothere.mx.test", "www.elsewhere.example"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        for i in range(1000):
            query = dns.message.make_query(names[i % 3], rng.randrange(1, 65536))
            sock.sendto(query.to_wire(), (host, port))
            sock.recv(65535)  # every one answered (NOERROR, NXDOMAIN, REFUSED, NOTIMP...)
    got = [s for s in samples(server) if s.name == "geodns_queries_total"]
    known = {t.name for t in dns.rdatatype.RdataType} | {"other"}
    assert {s.labels["qtype"] for s in got} <= known
    others: dict[tuple, int] = {}
    for s in got:
        if s.labels["qtype"] == "other":
            key = (s.labels["zone"], s.labels["rcode"], s.labels["transport"])
            others[key] = others.get(key, 0) + 1
    assert others and max(others.values()) == 1
    assert len(got) < 200, len(got)  # not one series per random type (~1,000)
