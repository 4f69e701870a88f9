"""RFC 2136 in a fleet (zones.source: fleet, three instances on one nats-server): an UPDATE
sent to one instance is a version on the bus, answered by every instance, and each one's
history names the TSIG key."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import yaml

from tests.e2e.fleetzones import Member, nats, start_all  # noqa: F401 (the nats fixture)
from tests.e2e.zonekit import ZONE, ZONE_TEXT, call

SECRET = base64.b64encode(b"fleet-wide-acme-secret-32-bytes!").decode()


def _with_updates(member: Member) -> None:
    (member.dir / "acme.key").write_text(SECRET)
    conf = yaml.safe_load(member.config.read_text())
    conf["updates"] = {
        "tsig_keys": {
            "acme": {"algorithm": "hmac-sha256", "secret_file": str(member.dir / "acme.key")}
        },
        "allow": [{"key": "acme", "names": ["_acme-challenge*"], "types": ["TXT"]}],
    }
    member.config.write_text(yaml.safe_dump(conf))


def _txt(member: Member, name: str) -> list[str]:
    host, port = member.server.where(4)
    reply = dns.query.udp(dns.message.make_query(name, "TXT"), host, port=port, timeout=2)
    return [rr.to_text() for rrset in reply.answer for rr in rrset]


def test_update_on_one_instance_is_served_by_all(tmp_path: Path, nats) -> None:  # noqa: F811
    members = [Member(tmp_path, n, nats.url, ZONE_TEXT if n == "a" else None) for n in "abc"]
    for member in members:
        _with_updates(member)
    start_all(members)
    try:
        upd = dns.update.UpdateMessage(ZONE)
        upd.use_tsig(
            dns.tsigkeyring.from_text({"acme": (dns.tsig.HMAC_SHA256, SECRET)}),
            algorithm=dns.tsig.HMAC_SHA256,
        )
        upd.add("_acme-challenge", 60, "TXT", "fleet-token")
        host, port = members[1].server.where(4)
        sent = time.monotonic()
        reply = dns.query.udp(upd, host, port=port, timeout=15)
        assert reply.rcode() == dns.rcode.NOERROR
        name = f"_acme-challenge.{ZONE}"
        assert _txt(members[1], name) == ['"fleet-token"']  # answered once served there
        deadline = sent + 10
        while time.monotonic() < deadline and not all(_txt(m, name) for m in members):
            time.sleep(0.05)
        took = time.monotonic() - sent
        assert all(_txt(m, name) == ['"fleet-token"'] for m in members), took
        assert took < 5, took
        for member in members:
            status, body, _ = call(member.addr, "GET", f"/api/v1/zones/{ZONE}/history")
            assert status == 200
            assert body["versions"][-1]["who"].startswith("tsig:acme@"), body["versions"][-1]
    finally:
        for member in members:
            member.stop()
