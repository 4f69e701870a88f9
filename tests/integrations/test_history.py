"""Every integration writes through the zone API: one zone, four tools (RFC 2136 with
TSIG, the external-dns webhook, octoDNS, Pulumi), and the zone's history names each as
the author of its own version."""

from __future__ import annotations

import asyncio

import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest
from aiohttp.test_utils import TestClient, TestServer

from geodns.integrations.client import ZoneClient
from geodns.integrations.pulumi import RecordLogic
from geodns.integrations.webhook import MEDIA, Webhook
from tests.integrations.kit import SECRET, WRITE_TOKEN, ZONE, serve


@pytest.fixture
def served(tmp_path):
    s = serve(tmp_path)
    yield s
    s.server.stop()


def _rfc2136(served) -> None:
    upd = dns.update.UpdateMessage(ZONE)
    upd.use_tsig(
        dns.tsigkeyring.from_text({"acme": (dns.tsig.HMAC_SHA256, SECRET)}),
        algorithm=dns.tsig.HMAC_SHA256,
    )
    upd.add("_acme-challenge.h", 60, "TXT", "by-rfc2136")
    assert dns.query.udp(upd, **served.at, timeout=10).rcode() == dns.rcode.NOERROR


async def _webhook(served) -> None:
    hook = Webhook(ZoneClient(served.api, WRITE_TOKEN, client="external-dns"))
    async with TestClient(TestServer(hook.app())) as client:
        body = {
            "create": [
                {"dnsName": "by-webhook.int.test", "targets": ["192.0.2.91"], "recordType": "A"}
            ]
        }
        resp = await client.post("/records", json=body, headers={"Content-Type": MEDIA})
        assert resp.status == 204, await resp.text()


def _octodns(served) -> None:
    octodns = pytest.importorskip("octodns")
    from octodns.record import Record
    from octodns.zone import Zone

    from geodns.integrations.octodns import GeodnsProvider

    assert octodns
    provider = GeodnsProvider("geodns", served.api, WRITE_TOKEN)
    desired = Zone(ZONE, [])
    provider.populate(desired)
    desired.add_record(
        Record.new(desired, "by-octodns", {"type": "A", "ttl": 30, "value": "192.0.2.92"}),
        replace=True,
    )
    plan = provider.plan(desired)
    assert plan is not None and len(plan.changes) == 1
    provider.apply(plan)


def _pulumi(served) -> None:
    props = {
        "api_url": served.api,
        "token": WRITE_TOKEN,
        "zone": ZONE,
        "name": "by-pulumi",
        "type": "A",
        "values": ["192.0.2.93"],
        "ttl": None,
    }
    RecordLogic().create(props)


def test_history_names_each_integration(served) -> None:
    _rfc2136(served)
    asyncio.run(_webhook(served))
    _octodns(served)
    _pulumi(served)
    versions = served.history()[-4:]
    who = [v["who"] for v in versions]
    assert who[0].startswith("tsig:acme@127.0.0.1"), who
    assert who[1].endswith("via external-dns"), who
    assert who[2].endswith("via octodns"), who
    assert who[3].endswith("via pulumi"), who
    summaries = [v["summary"] for v in versions]
    for summary, name in zip(
        summaries, ("_acme-challenge.h", "by-webhook", "by-octodns", "by-pulumi"), strict=True
    ):
        assert name in summary, summaries
