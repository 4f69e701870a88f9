"""`geodns webhook` (the CLI, a subprocess) replayed with external-dns's webhook bodies
(its OpenAPI spec: endpoints, changes, the media type) against a running geodns: domain
filter, adjust, create/update/delete, GET after POST = exactly the desired endpoints, DNS
answers, the history's author, and refusals that change nothing."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.e2e.zonekit import call as api_call
from tests.integrations.kit import WRITE_TOKEN, ZONE, serve

MEDIA = "application/external.dns.webhook+json;version=1"
OWNER = (
    '"heritage=external-dns,external-dns/owner=default,external-dns/resource=service/default/app"'
)
DESIRED = [  # as external-dns's TXT registry and sources send them
    {
        "dnsName": "web.int.test",
        "targets": ["192.0.2.80"],
        "recordType": "A",
        "recordTTL": 120,
        "labels": {"resource": "ingress/default/web"},
    },
    {"dnsName": "alias.int.test", "targets": ["web.int.test"], "recordType": "CNAME"},
    {
        "dnsName": "app.int.test",
        "targets": ["192.0.2.21", "192.0.2.20"],
        "recordType": "A",
        "setIdentifier": "eu",
        "providerSpecific": [{"name": "geodns/geo", "value": "continent:EU"}],
    },
    {
        "dnsName": "app.int.test",
        "targets": ["2001:db8::21"],
        "recordType": "AAAA",
        "setIdentifier": "eu",
        "providerSpecific": [{"name": "geodns/geo", "value": "continent:EU"}],
    },
    {
        "dnsName": "app.int.test",
        "targets": ["198.51.100.20"],
        "recordType": "A",
        "setIdentifier": "rest",
        "providerSpecific": [{"name": "geodns/geo", "value": "default"}],
    },
    {"dnsName": "a-app.int.test", "targets": [OWNER], "recordType": "TXT", "setIdentifier": "eu"},
    {"dnsName": "a-app.int.test", "targets": [OWNER], "recordType": "TXT", "setIdentifier": "rest"},
    {
        "dnsName": "canary.int.test",
        "targets": ["192.0.2.30"],
        "recordType": "A",
        "setIdentifier": "stable",  # as the annotation webhook-geodns-weight arrives
        "providerSpecific": [{"name": "webhook/geodns-weight", "value": "100"}],
    },
    {
        "dnsName": "canary.int.test",
        "targets": ["192.0.2.31"],
        "recordType": "A",
        "setIdentifier": "next",
        "providerSpecific": [{"name": "geodns/weight", "value": "0"}],
    },
]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(base: str, method: str, path: str, body=None, accept: str = MEDIA):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Accept", accept)
    if data is not None:
        req.add_header("Content-Type", MEDIA)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None, resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), exc.headers


def _start(api: str, token: Path, tmp: Path) -> tuple[subprocess.Popen, str]:
    port = _port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "geodns",
            "webhook",
            "--listen",
            f"127.0.0.1:{port}",
            "--api",
            api,
            "--token-file",
            str(token),
        ],
        stdout=(tmp / "webhook.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()
            return proc, base
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError((tmp / "webhook.log").read_text())


@pytest.fixture(scope="module")
def hook(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webhook")
    served = serve(tmp, updates=False)
    proc, base = _start(served.api, tmp / "write", tmp)
    yield served, base
    proc.terminate()
    proc.wait(timeout=10)
    served.server.stop()


def _ours(records: list[dict], names: set[str]) -> list[dict]:
    return sorted((r for r in records if r["dnsName"] in names), key=_order)


def _order(record: dict) -> str:
    return json.dumps(record, sort_keys=True)


def _a(served, name: str, rtype: str = "A") -> list[str]:
    reply = dns.query.udp(dns.message.make_query(name, rtype), **served.at, timeout=3)
    return sorted(rr.to_text() for rrset in reply.answer for rr in rrset)


def test_negotiation_and_domain_filter(hook) -> None:
    _, base = hook
    status, body, headers = _call(base, "GET", "/")
    assert status == 200 and headers["Content-Type"] == MEDIA
    assert body["include"] == ["int.test"] and body["filters"] == ["int.test"]
    status, _, _ = _call(base, "GET", "/", accept="application/external.dns.webhook+json;version=2")
    assert status == 406


def test_create_then_get_is_exactly_the_desired_endpoints(hook) -> None:
    served, base = hook
    status, adjusted, _ = _call(base, "POST", "/adjustendpoints", DESIRED)
    assert status == 200 and len(adjusted) == len(DESIRED)
    status, _, _ = _call(base, "POST", "/records", {"create": adjusted})
    assert status == 204
    names = {ep["dnsName"] for ep in DESIRED}
    status, records, _ = _call(base, "GET", "/records")
    assert status == 200
    assert _ours(records, names) == sorted(adjusted, key=_order)
    # what the desired endpoints say, served: geo default (no GeoIP here) and weights 100/0
    assert _a(served, "app.int.test.") == ["198.51.100.20"]
    assert _a(served, "web.int.test.") == ["192.0.2.80"]
    assert _a(served, "canary.int.test.") == ["192.0.2.30"]
    assert _a(served, "alias.int.test.", "CNAME") == ["web.int.test."]
    txt = _a(served, "a-app.int.test.", "TXT")
    assert len(txt) == 2 and all("heritage=external-dns" in t for t in txt)
    assert _ours(records, {"static.int.test"})  # what was there before is still listed
    latest = served.history()[-1]
    assert latest["who"].endswith("via external-dns"), latest
    # a second POST of the same plan changes nothing (no new version)
    before = len(served.history())
    status, again, _ = _call(base, "POST", "/adjustendpoints", adjusted)
    assert again == adjusted
    status, _, _ = _call(base, "POST", "/records", {})
    assert status == 204 and len(served.history()) == before


def test_update_and_delete(hook) -> None:
    served, base = hook
    _, records, _ = _call(base, "GET", "/records")
    old = [
        r for r in records if r["dnsName"] == "app.int.test" and r.get("setIdentifier") == "rest"
    ]
    new = [{**old[0], "targets": ["198.51.100.99"]}]
    status, _, _ = _call(base, "POST", "/records", {"updateOld": old, "updateNew": new})
    assert status == 204
    assert _a(served, "app.int.test.") == ["198.51.100.99"]
    canary = [r for r in records if r["dnsName"] == "canary.int.test"]
    status, _, _ = _call(base, "POST", "/records", {"delete": canary})
    assert status == 204
    _, after, _ = _call(base, "GET", "/records")
    assert not _ours(after, {"canary.int.test"})
    doc = json.loads(urllib.request.urlopen(f"{served.api}/api/v1/zones/{ZONE}").read())
    assert not [p for p in doc["pools"] if p.startswith("canary/")]  # its pools went too


def test_refusals_change_nothing_and_say_why(hook) -> None:
    served, base = hook
    before = served.history()[-1]["version"]
    bad = [{"dnsName": "broken.int.test", "targets": ["300.1.2.3"], "recordType": "A"}]
    status, body, _ = _call(base, "POST", "/records", {"create": bad})
    assert status == 400 and body["problems"], body  # the API's 422, as it said it
    assert any("300.1.2.3" in p["message"] for p in body["problems"])
    pooled = [
        {
            "dnsName": "x.int.test",
            "targets": ["a.example."],
            "recordType": "CNAME",
            "setIdentifier": "s",
        }
    ]
    status, body, _ = _call(base, "POST", "/records", {"create": pooled})
    assert status == 400 and "only A, AAAA" in body["problems"][0]["message"]
    outside = [{"dnsName": "www.elsewhere.test", "targets": ["192.0.2.1"], "recordType": "A"}]
    status, body, _ = _call(base, "POST", "/records", {"create": outside})
    assert status == 400
    assert served.history()[-1]["version"] == before


def test_api_unreachable_is_retryable(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("x")
    proc, base = _start(f"http://127.0.0.1:{_port()}", tmp_path / "t", tmp_path)
    try:
        assert _call(base, "GET", "/records")[0] == 503
        assert _call(base, "POST", "/records", {"create": DESIRED[:1]})[0] == 503
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_change_over_two_zones_is_checked_whole_first(hook) -> None:
    served, base = hook
    second = {
        "zone": "two.test.",
        "ttl": 30,
        "soa": {"mname": "ns1.two.test.", "rname": "hostmaster.two.test.", "serial": "auto"},
        "ns": ["ns1.two.test."],
        "records": {"ns1": {"A": ["192.0.2.53"]}},
    }
    status, body, _ = api_call(
        served.server.app.http_bound, "PUT", "/api/v1/zones/two.test.", second, token=WRITE_TOKEN
    )
    assert status == 200, body
    status, body, _ = _call(base, "GET", "/")
    assert sorted(body["include"]) == ["int.test", "two.test"]
    before = {z: served.history(z)[-1]["version"] for z in (ZONE, "two.test.")}
    changes = {
        "create": [
            {"dnsName": "fine.int.test", "targets": ["192.0.2.44"], "recordType": "A"},
            {"dnsName": "broken.two.test", "targets": ["192.0.2.300"], "recordType": "A"},
        ]
    }
    status, body, _ = _call(base, "POST", "/records", changes)
    assert status == 400 and "192.0.2.300" in json.dumps(body["problems"])
    assert {z: served.history(z)[-1]["version"] for z in before} == before  # neither zone
    assert _a(served, "fine.int.test.") == []
