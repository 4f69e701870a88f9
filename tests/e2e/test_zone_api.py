"""The zone API in files mode (zones.source: files), against a real server: atomic file
replacement under a reader, hand edits picked up and shown, every bad input refused with
its paths and nothing changed, tokens, dry_run, If-Match, rollback, delete and create."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.e2e.http_client import get
from tests.e2e.zonekit import TOKEN, ZONE, ZONE_TEXT, answers, call, rrset_patch, soa_serial
from tests.servers import ServerThread, wait_for, write_config

READ, DRAIN = "zone-reader", "drain-only"
URL = f"/api/v1/zones/{ZONE}"
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def served(tmp_path: Path):
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "api.test.yaml").write_text(ZONE_TEXT)
    for name, token in (("write", TOKEN), ("read", READ), ("drain", DRAIN)):
        (tmp_path / name).write_text(token)
    http = {
        "listen": "127.0.0.1:0",
        "token_file": str(tmp_path / "drain"),
        "write_token_file": str(tmp_path / "write"),
        "read_token_file": str(tmp_path / "read"),
        "max_body": "1MiB",
    }
    conf = write_config(tmp_path, zones, http=http, reload={"watch": True, "poll_interval": 0.2})
    server = ServerThread(conf).start()
    yield server, zones / "api.test.yaml"
    server.stop()


def _big(tag: str) -> str:
    """A zone file of ~100 KB, so a non-atomic write would be caught half done."""
    lines = [f"  n{i}: {{A: 192.0.2.{i % 250 + 1}, TXT: ['{tag} {i:05d}']}}" for i in range(2000)]
    return ZONE_TEXT + "\n".join(lines) + "\n"


def test_put_replaces_the_file_atomically_under_a_reader(served) -> None:
    server, path = served
    addr, texts = server.app.http_bound, [_big("first"), _big("second")]
    wanted = {hashlib.sha256(t.encode()).digest() for t in [ZONE_TEXT, *texts]}
    seen, bad, stop = [0], [], threading.Event()

    def reader() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            seen[0] += 1
            if hashlib.sha256(data).digest() not in wanted:
                bad.append(len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(12):
            status, body, _ = call(addr, "PUT", URL, raw=texts[i % 2].encode(), headers=YAML)
            assert status == 200, body
    finally:
        stop.set()
        thread.join()
    assert bad == [] and seen[0] > 12
    assert path.read_text() == texts[1]  # the YAML as sent, its comment kept
    assert answers(server, "n7.api.test.", "TXT")[1] == ['"second 00007"']


def test_hand_edit_is_picked_up_and_shown(served) -> None:
    server, path = served
    addr = server.app.http_bound
    status, _, _ = call(addr, "PATCH", URL, rrset_patch("api-made.api.test.", "A", ["192.0.2.7"]))
    assert status == 200
    before = soa_serial(server)
    text = path.read_text() + "  by-hand:\n    A: 192.0.2.77\n"
    path.write_text(text)
    wait_for(lambda: answers(server, "by-hand.api.test.")[1] == ["192.0.2.77"], 10)
    assert soa_serial(server) != before
    status, doc, headers = call(addr, "GET", URL, token=READ)
    assert status == 200 and doc["records"]["by-hand"] == {"A": "192.0.2.77"}
    assert headers["ETag"] == '"' + hashlib.sha256(text.encode()).hexdigest()[:16] + '"'
    assert doc["records"]["api-made"] == {"A": ["192.0.2.7"]}
    history = call(addr, "GET", URL + "/history", token=READ)[1]["versions"]
    assert [v["who"] for v in history] == ["file", "write@127.0.0.1", "file"]
    assert history[-1]["version"] == headers["ETag"].strip('"')


BAD = [  # (method, body or raw bytes, status, a path of a problem reported)
    ("PUT", b"{not json", 400, ""),
    ("PUT", b"zone: [unclosed", 400, ""),  # sent as YAML below
    ("PATCH", {"colour": "blue"}, 422, "colour"),
    (
        "PATCH",
        {"pools": {"eu": {"addresses": ["192.0.2.10", "nope"]}}},
        422,
        "pools.eu.addresses[1]",
    ),
    (
        "PATCH",
        {"records": {"www": {"failover": ["eu", "missing"]}}},
        422,
        "records.www.failover[1]",
    ),
    ("PATCH", {"records": {"static": {"A": "192.0.2.1", "CNAME": "www"}}}, 422, "records.static"),
    ("PATCH", rrset_patch("x.example.org.", "A", ["192.0.2.1"]), 422, "rrsets[0].name"),
    (
        "PATCH",
        {"rrsets": [{"name": "y.api.test.", "type": "A", "changetype": "UPSERT"}]},
        422,
        "rrsets[0].changetype",
    ),
    ("PATCH", {"records": {"ns1": {"A": 5}}}, 422, "records.ns1.A"),
    (
        "PATCH",
        {"records": {"ttl-bad": {"A": "192.0.2.1", "ttl": "soon"}}},
        422,
        "records.ttl-bad.ttl",
    ),
    ("PUT", {"zone": "other.test.", "ns": ["ns1.other.test."]}, 422, "zone"),
    ("PUT", b"x" * (2 << 20), 413, ""),
]


def test_bad_input_is_refused_whole_and_nothing_changes(served) -> None:
    server, path = served
    addr, original = server.app.http_bound, path.read_bytes()
    for method, body, status, where in BAD:
        raw = body if isinstance(body, bytes) else None
        headers = YAML if raw is not None and raw.startswith(b"zone") else None
        got, reply, _ = call(addr, method, URL, None if raw else body, raw=raw, headers=headers)
        assert got == status, (body, reply)
        assert where in [p["path"] for p in reply["problems"]], (body, reply)
        assert path.read_bytes() == original
        assert answers(server, "static.api.test.")[1] == ["192.0.2.1"]
    status, text = get(addr, "/metrics")
    assert 'geodns_zone_writes_total{result="invalid",zone="api.test."} 9.0' in text


def test_tokens_dry_run_if_match_rollback_delete_create(served) -> None:
    server, path = served
    addr = server.app.http_bound
    assert call(addr, "GET", URL, token=None)[0] == 401  # read_token_file is set
    assert call(addr, "GET", URL, token=READ)[0] == 200
    patch = rrset_patch("static.api.test.", "A", ["192.0.2.99"])
    for token in (None, READ, DRAIN):  # write_token_file is set: only its token writes
        assert call(addr, "PATCH", URL, patch, token=token)[0] == 401
    status, diff, _ = call(addr, "PATCH", URL + "?dry_run=true", patch)
    assert status == 200 and diff["routing"] == []
    assert [(d["name"], d["type"], d["action"]) for d in diff["records"]] == [
        ("static.api.test.", "A", "change")
    ]
    assert path.read_text() == ZONE_TEXT
    etag = call(addr, "GET", URL, token=READ)[2]["ETag"]
    first_serial = soa_serial(server)
    assert call(addr, "PATCH", URL, patch, headers={"If-Match": etag})[0] == 200
    assert call(addr, "PATCH", URL, patch, headers={"If-Match": etag})[0] == 412  # moved on
    assert answers(server, "static.api.test.")[1] == ["192.0.2.99"]
    status, body, _ = call(addr, "POST", URL + "/rollback?to=" + etag.strip('"'))
    assert status == 200, body
    assert path.read_text() == ZONE_TEXT  # the old file, comment and all
    assert answers(server, "static.api.test.")[1] == ["192.0.2.1"]
    assert soa_serial(server) == body["serial"] > first_serial
    assert call(addr, "DELETE", URL)[0] == 200
    assert not path.exists() and answers(server, "www.api.test.")[0] == "REFUSED"
    assert call(addr, "DELETE", URL)[0] == 404
    status, body, _ = call(addr, "PUT", URL, raw=ZONE_TEXT.encode(), headers=YAML)
    assert status == 200 and path.read_text() == ZONE_TEXT
    assert answers(server, "www.api.test.")[0] == "NOERROR"


def test_two_writers_with_one_if_match_one_wins(served) -> None:
    server, _ = served
    addr = server.app.http_bound
    etag = call(addr, "GET", URL, token=READ)[2]["ETag"]
    results: list[int] = []

    def write(address: str) -> None:
        patch = rrset_patch("race.api.test.", "A", [address])
        results.append(call(addr, "PATCH", URL, patch, headers={"If-Match": etag})[0])

    racers = [threading.Thread(target=write, args=(f"192.0.2.{i}",)) for i in (101, 102)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert sorted(results) == [200, 412]
    assert len(answers(server, "race.api.test.")[1]) == 1


def _freeze(folder: Path, frozen: bool) -> bool:
    """Make a folder unwritable even for root (chattr +i), or writable again."""
    if os.geteuid() != 0:
        folder.chmod(0o555 if frozen else 0o755)
        return True
    flag = "+i" if frozen else "-i"
    chattr = shutil.which("chattr")
    return chattr is not None and subprocess.run([chattr, flag, str(folder)]).returncode == 0


def test_a_read_only_zones_dir_is_said_and_nothing_changes(served) -> None:
    server, path = served
    addr, folder = server.app.http_bound, path.parent
    if not _freeze(folder, True):  # as a ConfigMap mount is
        pytest.skip("cannot make a folder read-only here")
    try:
        patch = rrset_patch("ro.api.test.", "A", ["192.0.2.5"])
        status, body, _ = call(addr, "PATCH", URL, patch)
        assert status == 500 and "nothing changed" in body["error"], body
        assert path.read_text() == ZONE_TEXT and answers(server, "ro.api.test.")[0] == "NXDOMAIN"
        assert list(folder.iterdir()) == [path]  # no temp file left behind
    finally:
        _freeze(folder, False)
