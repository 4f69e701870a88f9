"""dns/update.py's desk on its own: verified updates handed on are bounded per worker
(max_pending; more get a signed SERVFAIL), and what it hands on is the records as text."""

from __future__ import annotations

import asyncio
import base64
from types import SimpleNamespace

import dns.message
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update

from geodns.dns import tsig
from geodns.dns.update import UpdateDesk
from geodns.dns.updatesconf import Allow, UpdatesConfig

SECRET = base64.b64encode(b"s" * 32).decode()
KEYRING = dns.tsigkeyring.from_text({"acme": (dns.tsig.HMAC_SHA256, SECRET)})
ZONE = SimpleNamespace(zone=SimpleNamespace(origin_text="int.test."))


def _conf(pending: int) -> UpdatesConfig:
    key = tsig.Key("acme.", "hmac-sha256", base64.b64decode(SECRET))
    grant = Allow("acme.", ("_acme-challenge*",), ("TXT",))
    return UpdatesConfig((key,), (grant,), pending)


def _signed(token: str) -> dns.update.UpdateMessage:
    upd = dns.update.UpdateMessage("int.test.")
    upd.use_tsig(KEYRING, algorithm=dns.tsig.HMAC_SHA256)
    upd.present("static")
    upd.add("_acme-challenge.www", 60, "TXT", token)
    upd.delete("_acme-challenge.old", "TXT")
    return upd


async def test_pending_updates_are_bounded() -> None:
    seen, gate = [], asyncio.Event()

    async def submit(request):
        seen.append(request)
        await gate.wait()
        return 0

    desk = UpdateDesk(_conf(1), submit)
    first = _signed("one")
    pending = desk.take(first.to_wire(), "127.0.0.1", 512, None, lambda name: ZONE)
    assert not isinstance(pending, bytes)
    task = asyncio.ensure_future(pending)
    await asyncio.sleep(0)
    second = _signed("two")
    busy = desk.take(second.to_wire(), "127.0.0.1", 512, None, lambda name: ZONE)
    reply = dns.message.from_wire(busy, keyring=KEYRING, request_mac=second.mac)
    assert reply.rcode() == dns.rcode.SERVFAIL  # signed: the key verified it
    gate.set()
    done = dns.message.from_wire(await task, keyring=KEYRING, request_mac=first.mac)
    assert done.rcode() == dns.rcode.NOERROR and desk.pending == 0
    request = seen[0]
    assert request.zone == "int.test." and request.key == "acme."
    assert [(r.name, r.rtype, r.rclass) for r in request.prereqs] == [
        ("static.int.test.", "ANY", "ANY")
    ]
    assert [(r.name, r.rtype, r.rclass, r.value) for r in request.updates] == [
        ("_acme-challenge.www.int.test.", "TXT", "IN", "one"),
        ("_acme-challenge.old.int.test.", "TXT", "ANY", None),
    ]
