"""RFC 2136 UPDATE with TSIG against a running server: dnspython and nsupdate as clients,
every refusal with its RCODE and TSIG error, prerequisites, static data only, and each
accepted update a zone write in the history with the key as author."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest

from tests.integrations.kit import OTHER_SECRET, SECRET, ZONE, serve

KEYRING = dns.tsigkeyring.from_text({"acme": (dns.tsig.HMAC_SHA256, SECRET)})
OPS = dns.tsigkeyring.from_text({"ops": (dns.tsig.HMAC_SHA512, OTHER_SECRET)})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    s = serve(tmp_path_factory.mktemp("rfc2136"))
    yield s
    s.server.stop()


def _update(keyring=KEYRING, algorithm=dns.tsig.HMAC_SHA256) -> dns.update.UpdateMessage:
    upd = dns.update.UpdateMessage(ZONE)
    if keyring is not None:
        upd.use_tsig(keyring, algorithm=algorithm)
    return upd


def _txt(served, name: str) -> list[str]:
    reply = dns.query.udp(dns.message.make_query(name, "TXT"), **served.at, timeout=3)
    return sorted(rr.to_text() for rrset in reply.answer for rr in rrset)


def _send_raw(served, wire: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(wire, served.dns)
        return sock.recv(65535)


def test_signed_update_adds_and_deletes_txt_in_history(served) -> None:
    before = len(served.history())
    upd = _update()
    upd.add("_acme-challenge.www", 60, "TXT", "token-one")
    upd.add("_acme-challenge.www", 60, "TXT", "token-two")
    reply = dns.query.udp(upd, **served.at, timeout=10)
    assert reply.rcode() == dns.rcode.NOERROR and reply.had_tsig  # signed, and it verified
    name = f"_acme-challenge.www.{ZONE}"
    assert _txt(served, name) == ['"token-one"', '"token-two"']
    latest = served.history()[-1]
    assert latest["who"].startswith("tsig:acme@127.0.0.1"), latest
    assert len(served.history()) == before + 1
    upd = _update()
    upd.delete("_acme-challenge.www", "TXT", "token-one")
    assert dns.query.tcp(upd, **served.at, timeout=10).rcode() == dns.rcode.NOERROR
    assert _txt(served, name) == ['"token-two"']
    upd = _update()
    upd.delete("_acme-challenge.www", "TXT")
    assert dns.query.udp(upd, **served.at, timeout=10).rcode() == dns.rcode.NOERROR
    reply = dns.query.udp(dns.message.make_query(name, "TXT"), **served.at, timeout=3)
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert [v["who"].split("@")[0] for v in served.history()[-3:]] == ["tsig:acme"] * 3


def test_unsigned_update_is_refused_and_changes_nothing(served) -> None:
    before = served.history()[-1]["version"]
    upd = _update(keyring=None)
    upd.add("_acme-challenge", 60, "TXT", "x")
    assert dns.query.udp(upd, **served.at, timeout=5).rcode() == dns.rcode.REFUSED
    assert served.history()[-1]["version"] == before


def test_bad_tsig_is_notauth_with_the_tsig_error(served, monkeypatch) -> None:
    wrong = dns.tsigkeyring.from_text({"acme": (dns.tsig.HMAC_SHA256, OTHER_SECRET)})
    upd = _update(keyring=wrong)
    upd.add("_acme-challenge", 60, "TXT", "x")
    with pytest.raises(dns.tsig.PeerBadSignature):  # dnspython reads NOTAUTH + BADSIG
        dns.query.udp(upd, **served.at, timeout=5)
    nokey = dns.tsigkeyring.from_text({"nobody": (dns.tsig.HMAC_SHA256, SECRET)})
    upd = _update(keyring=nokey)
    upd.add("_acme-challenge", 60, "TXT", "x")
    with pytest.raises(dns.tsig.PeerBadKey):
        dns.query.udp(upd, **served.at, timeout=5)
    upd = _update()
    upd.add("_acme-challenge", 60, "TXT", "x")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 3600)  # our clock, signing an hour ago
    wire = upd.to_wire()
    monkeypatch.setattr(time, "time", real)
    raw = _send_raw(served, wire)
    with pytest.raises(dns.tsig.PeerBadTime):
        dns.message.from_wire(raw, keyring=KEYRING, request_mac=upd.mac)
    _mac_checks_out(raw, upd.mac)  # BADTIME replies are signed (RFC 8945 §5.2.3)


def _mac_checks_out(raw: bytes, request_mac: bytes) -> None:
    """dnspython's own digest of the reply (its validate stops at the TSIG error)."""
    import struct

    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    qd, an, ns, ar = struct.unpack_from("!4H", raw, 4)
    assert (an, ns, ar) == (0, 0, 1)
    pos = 12
    for _ in range(qd):
        pos = dns.name.from_wire(raw, pos)[1] + pos + 4
    start = pos
    owner, used = dns.name.from_wire(raw, pos)
    pos += used
    rdlen = struct.unpack_from("!H", raw, pos + 8)[0]
    rdata = dns.rdata.from_wire(dns.rdataclass.ANY, dns.rdatatype.TSIG, raw, pos + 10, rdlen)
    assert rdata.error == dns.rcode.BADTIME and len(rdata.other) == 6
    key = KEYRING[owner]
    wire = raw[:10] + struct.pack("!H", ar - 1) + raw[12:start]
    dns.tsig._digest(wire, key, rdata, None, request_mac).verify(rdata.mac)


def test_only_granted_names_and_types_of_static_data(served) -> None:
    upd = _update()
    upd.add("other", 60, "TXT", "x")  # acme may only touch _acme-challenge
    assert dns.query.udp(upd, **served.at, timeout=5).rcode() == dns.rcode.REFUSED
    upd = _update()
    upd.add("_acme-challenge", 60, "A", "192.0.2.9")  # TXT only
    assert dns.query.udp(upd, **served.at, timeout=5).rcode() == dns.rcode.REFUSED
    upd = _update(OPS, dns.tsig.HMAC_SHA512)
    upd.add("www", 60, "A", "192.0.2.99")  # a policy name: never, whatever the grant
    assert dns.query.udp(upd, **served.at, timeout=10).rcode() == dns.rcode.REFUSED
    upd = _update(OPS, dns.tsig.HMAC_SHA512)
    upd.add("new-host", 120, "A", "192.0.2.77")  # ops may, and sha512 works
    assert dns.query.udp(upd, **served.at, timeout=10).rcode() == dns.rcode.NOERROR
    reply = dns.query.udp(dns.message.make_query(f"new-host.{ZONE}", "A"), **served.at, timeout=3)
    assert [rr.to_text() for rr in reply.answer[0]] == ["192.0.2.77"]
    assert served.history()[-1]["who"].startswith("tsig:ops@")
    upd = dns.update.UpdateMessage("elsewhere.test.")
    upd.use_tsig(KEYRING, algorithm=dns.tsig.HMAC_SHA256)
    upd.add("_acme-challenge", 60, "TXT", "x")
    assert dns.query.udp(upd, **served.at, timeout=5).rcode() == dns.rcode.NOTAUTH


def test_prerequisites_are_honoured(served) -> None:
    cases = [
        ("present", ("static",), dns.rcode.NOERROR),  # name in use
        ("absent", ("static",), dns.rcode.YXDOMAIN),  # name not in use: it is
        ("present", ("nothing-here",), dns.rcode.NXDOMAIN),
        ("present", ("static", "TXT"), dns.rcode.NOERROR),  # rrset exists
        ("absent", ("static", "TXT"), dns.rcode.YXRRSET),
        ("present", ("static", "MX"), dns.rcode.NXRRSET),
        ("present", ("static", "TXT", "hello"), dns.rcode.NOERROR),  # value dependent
        ("present", ("static", "TXT", "bye"), dns.rcode.NXRRSET),
    ]
    for i, (kind, args, want) in enumerate(cases):
        before = served.history()[-1]["version"]
        upd = _update(OPS, dns.tsig.HMAC_SHA512)
        getattr(upd, kind)(*args)
        upd.add(f"pre{i}", 60, "TXT", f"case {i}")
        got = dns.query.udp(upd, **served.at, timeout=10).rcode()
        assert got == want, (kind, args, dns.rcode.to_text(got))
        written = served.history()[-1]["version"] != before
        assert written == (want == dns.rcode.NOERROR), (kind, args)


def test_signed_query_gets_a_signed_answer(served) -> None:
    query = dns.message.make_query(ZONE, "SOA")
    query.use_tsig(KEYRING, algorithm=dns.tsig.HMAC_SHA256)
    for send in (dns.query.udp, dns.query.tcp):
        reply = send(query, **served.at, timeout=5)  # dnspython checks the reply's TSIG
        assert reply.had_tsig and reply.answer and reply.answer[0].rdtype == 6


@pytest.mark.skipif(shutil.which("nsupdate") is None, reason="nsupdate (bind9-dnsutils) absent")
def test_nsupdate_with_y(served, tmp_path: Path) -> None:
    host, port = served.dns
    script = (
        f"server {host} {port}\nzone {ZONE}\n"
        f'update add _acme-challenge.api.{ZONE} 60 TXT "from-nsupdate"\nsend\n'
    )
    run = subprocess.run(
        ["nsupdate", "-y", f"hmac-sha256:acme:{SECRET}"],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    assert _txt(served, f"_acme-challenge.api.{ZONE}") == ['"from-nsupdate"']
    bad = subprocess.run(
        ["nsupdate", "-y", f"hmac-sha256:acme:{OTHER_SECRET}"],
        input=script.replace("add", "delete"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode != 0 and "BADSIG" in bad.stdout + bad.stderr
    assert served.history()[-1]["who"].startswith("tsig:acme@")


def test_update_flood_is_rate_limited_like_any_query(tmp_path) -> None:
    limited = serve(tmp_path, rrl={"responses_per_second": 5, "errors_per_second": 5, "slip": 0})
    try:
        upd = _update(keyring=None)
        upd.add("_acme-challenge", 60, "TXT", "x")
        wire = upd.to_wire()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            for i in range(200):  # bounded: 200 datagrams, then count what came back
                sock.sendto(bytes([i & 0xFF, i >> 8]) + wire[2:], limited.dns)
            answered = 0
            while True:
                try:
                    reply = dns.message.from_wire(sock.recv(65535))
                except TimeoutError:
                    break
                assert reply.rcode() == dns.rcode.REFUSED
                answered += 1
        assert 0 < answered < 100, answered  # REFUSED answers limited as errors (RRL)
    finally:
        limited.server.stop()


def test_outcomes_are_counted_in_metrics(tmp_path) -> None:
    """geodns_dns_updates_total{result}, added up over two workers."""
    counted = serve(tmp_path, workers=2)
    try:
        upd = _update()
        upd.add("_acme-challenge.m", 60, "TXT", "counted")
        assert dns.query.udp(upd, **counted.at, timeout=10).rcode() == dns.rcode.NOERROR
        for _ in range(3):
            upd = _update(keyring=None)
            upd.add("_acme-challenge", 60, "TXT", "x")
            dns.query.udp(upd, **counted.at, timeout=5)
        upd = _update(
            keyring=dns.tsigkeyring.from_text({"acme": (dns.tsig.HMAC_SHA256, OTHER_SECRET)})
        )
        upd.add("_acme-challenge", 60, "TXT", "x")
        with pytest.raises(dns.tsig.PeerBadSignature):
            dns.query.udp(upd, **counted.at, timeout=5)
        host, port = counted.server.app.http_bound
        text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10).read().decode()
        found = {
            line.split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("geodns_dns_updates_total{")
        }
        assert found["ok"] == 1 and found["unsigned"] == 3 and found["badsig"] == 1, found
        assert found["refused"] == 0 and found["badtime"] == 0
    finally:
        counted.server.stop()
