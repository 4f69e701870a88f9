"""Counters and logs of the native engine (issue 19, step 4), over real sockets and a real
`geodns serve`: the latency and size histograms and the GeoIP hits count every answer the
native threads send; log.queries logs each one from the threads (not the Python path);
log.dnstap writes frames a real reader (fstrm_capture, dnstap-read) reads back."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from geodns.native import table as native
from tests.servers import DATA, ServerProcess, wait_for

pytestmark = pytest.mark.skipif(not native.available(), reason="geodns._native not built")
GEO_ZONES = DATA / "zones" / "geo"
ECS_GB = [dns.edns.ECSOption.from_text("81.2.69.0/24")]  # GB in city-test.mmdb: pool gb


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tmp: Path, **log: object) -> tuple[ServerProcess, int]:
    """`geodns serve` on the native path (one worker), its HTTP port."""
    http = free_port()
    conf = {
        "dns": {"listen": ["127.0.0.1:0"], "workers": 1, "fast_path": "native"},
        "http": {"listen": f"127.0.0.1:{http}"},
        "zones_dir": str(GEO_ZONES),
        "reload": {"watch": False},
        "geoip": {"city": str(DATA / "city-test.mmdb"), "asn": str(DATA / "asn-test.mmdb")},
        "log": {"level": "info", **log},
    }
    path = tmp / "geodns.yaml"
    path.write_text(yaml.safe_dump(conf))
    proc = ServerProcess(["serve", "--config", str(path)]).start()
    wait_for(lambda: metrics(http) is not None, timeout=20)
    return proc, http


def metrics(port: int) -> dict | None:
    """name{labels} -> value of a fresh scrape (None while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "le")
            if "le" not in s.labels:
                out[f"{s.name}{{{labels}}}"] = s.value
    return out


def ask(port: int, query: dns.message.Message) -> bytes:
    """One UDP query, its reply's bytes (their size is what the histogram must sum)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(query.to_wire(), ("127.0.0.1", port))
        return s.recv(65535)


def queries(n: int) -> list[tuple[dns.message.Message, str]]:
    """n queries the native engine answers: static, geo by ECS, NXDOMAIN; with their kind."""
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append((dns.message.make_query("ns1.geo.test", "A"), "static"))
        elif i % 3 == 1:
            q = dns.message.make_query("www.geo.test", "A", use_edns=0, options=ECS_GB)
            out.append((q, "geo"))
        else:
            out.append((dns.message.make_query(f"n{i}.geo.test", "A"), "nx"))
    return out


def test_histograms_and_geoip_count_every_native_answer(tmp_path: Path) -> None:
    proc, http = serve(tmp_path)
    try:
        port = proc.bound[0][1]
        assert "UDP fast path: native" in proc.log
        sent = queries(300)
        got = [ask(port, q) for q, _ in sent]
        assert all(r[3] & 0xF in (0, 3) for r in got)
        n, req, resp = len(sent), sum(len(q.to_wire()) for q, _ in sent), sum(map(len, got))
        geo = sum(1 for _, kind in sent if kind == "geo")
        want = {
            "geodns_query_duration_seconds_count{}": n,
            "geodns_request_size_bytes_count{transport=udp}": n,
            "geodns_request_size_bytes_sum{transport=udp}": req,
            "geodns_response_size_bytes_count{transport=udp}": n,
            "geodns_response_size_bytes_sum{transport=udp}": resp,
            "geodns_geoip_cache_hits_total{}": geo,
            "geodns_request_size_bytes_count{transport=tcp}": 0,
        }
        seen = settled(http, want)
        assert {k: seen.get(k) for k in want} == want
        assert seen["geodns_query_duration_seconds_sum{}"] > 0
    finally:
        proc.stop()


def settled(port: int, want: dict, within: float = 15.0) -> dict:
    """The first scrape with every wanted value (workers report every few seconds), else
    the last one (the caller's assert shows what differs)."""
    deadline = time.monotonic() + within
    while True:
        seen = metrics(port) or {}
        if all(seen.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def query_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "geodns.query" in line]


def test_query_log_comes_from_the_native_threads(tmp_path: Path) -> None:
    proc, _ = serve(tmp_path, queries=True)
    try:
        port = proc.bound[0][1]
        assert "UDP fast path: native" in proc.log  # the query log no longer forces Python
        sent = queries(600)
        sizes = {kind: len(ask(port, q)) for q, kind in sent}  # one size per kind
        alias = dns.message.make_query("nowhere.example", "A")  # REFUSED outside our zones
        ask(port, alias)
        chaos = dns.message.make_query("id.server", "TXT", rdclass="CH")  # CHAOS: native too
        ask(port, chaos)
        anyq = dns.message.make_query("www.geo.test", "ANY")  # ANY (RFC 8482): Python's answer
        ask(port, anyq)
        q = dns.message.make_query("tcp.geo.test", "TXT")  # over TCP: NXDOMAIN
        assert dns.query.tcp(q, "127.0.0.1", port=port, timeout=3).rcode() == 3
        wait_for(lambda: len(query_lines(proc.log)) >= 604, 15)
    finally:
        proc.stop()
    lines = query_lines(proc.log)
    assert len(lines) == 604, "every query in the log, once"
    over_tcp = [line for line in lines if "name tcp.geo.test. type TXT" in line]
    assert len(over_tcp) == 1 and "rcode NXDOMAIN" in over_tcp[0]
    native_lines = [line for line in lines if line.endswith("path native") and line not in over_tcp]
    assert len(native_lines) == 602
    gb = [line for line in native_lines if "www.geo.test." in line]
    assert len(gb) == 200
    assert (
        "INFO geodns.query: query from 127.0.0.1 ecs 81.2.69.0/24: zone geo.test. pool gb "
        f"scope 24 rcode NOERROR name www.geo.test. type A size {sizes['geo']} us " in gb[0]
    )
    nx = [line for line in native_lines if "rcode NXDOMAIN" in line]
    assert len(nx) == 200 and "zone geo.test. pool None scope 0" in nx[0]
    refused = [line for line in native_lines if "nowhere.example." in line]
    assert len(refused) == 1 and "zone None pool None scope 0 rcode REFUSED" in refused[0]
    chaos_lines = [line for line in native_lines if "name id.server. type TXT" in line]
    assert len(chaos_lines) == 1 and "zone None pool None scope 0 rcode NOERROR" in chaos_lines[0]
    python = [line for line in lines if "type ANY" in line]
    assert len(python) == 1 and not python[0].endswith("path native"), python


def test_query_log_as_json_carries_the_fields(tmp_path: Path) -> None:
    proc, _ = serve(tmp_path, queries=True, format="json")
    try:
        port = proc.bound[0][1]
        q = dns.message.make_query("www.geo.test", "A", use_edns=0, options=ECS_GB)
        size = len(ask(port, q))
        lines = wait_for(lambda: query_lines(proc.log), 15)
    finally:
        proc.stop()
    record = json.loads(lines[0])
    assert record["logger"] == "geodns.query" and record["level"] == "info"
    assert record["ts"].endswith("Z")
    fields = {k: record[k] for k in ("client", "zone", "pool", "scope", "rcode", "name")}
    assert fields == {
        "client": "127.0.0.1",
        "zone": "geo.test.",
        "pool": "gb",
        "scope": 24,
        "rcode": 0,
        "name": "www.geo.test.",
    }
    assert (record["type"], record["ecs"], record["size"]) == ("A", "81.2.69.0/24", size)
    assert record["path"] == ["native"] and record["us"] >= 0
    assert record["msg"].startswith("query from 127.0.0.1 ecs 81.2.69.0/24: zone geo.test.")


needs_readers = pytest.mark.skipif(
    not (shutil.which("fstrm_capture") and shutil.which("dnstap-read")),
    reason="fstrm_capture (fstrm-bin) and dnstap-read (bind9-dnsutils) needed",
)


@needs_readers
def test_dnstap_frames_read_back_by_real_readers(tmp_path: Path) -> None:
    sock, out = tmp_path / "tap.sock", tmp_path / "tap.fstrm"
    capture = subprocess.Popen(
        ["fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", str(sock), "-w", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(sock.exists, 10)
        proc, _ = serve(tmp_path, dnstap={"socket": str(sock)})
        try:
            port = proc.bound[0][1]
            sent = queries(90)
            sizes = {kind: len(ask(port, q)) for q, kind in sent}
            q = dns.message.make_query("ns1.geo.test", "A")
            tcp = socket.create_connection(("127.0.0.1", port), timeout=3)
            wire = q.to_wire()
            tcp.sendall(len(wire).to_bytes(2, "big") + wire)
            assert len(tcp.recv(65535)) > 2
            tcp.close()
            time.sleep(0.2)  # the TCP answer's frame is pushed after the write
        finally:
            assert proc.stop() == 0  # the writer sends STOP and waits for FINISH
    finally:
        capture.send_signal(signal.SIGTERM)
        log = capture.communicate(timeout=10)[0]
    read = subprocess.run(["dnstap-read", str(out)], capture_output=True, text=True, timeout=30)
    assert read.returncode == 0, read.stderr + log
    lines = read.stdout.splitlines()
    aq = [line for line in lines if " AQ " in line]
    ar = [line for line in lines if " AR " in line]
    assert len(aq) == len(ar) == 91, read.stdout[-2000:]
    assert sum(" UDP " in line for line in aq) == 90 and sum(" TCP " in line for line in aq) == 1
    www = [line for line in ar if "www.geo.test/IN/A" in line]
    assert len(www) == 30 and f"<- 127.0.0.1:{port} UDP {sizes['geo']}b" in www[0]
    full = subprocess.run(["dnstap-read", "-y", str(out)], capture_output=True, text=True)
    assert "type: AUTH_RESPONSE" in full.stdout and "192.0.2.40" in full.stdout
