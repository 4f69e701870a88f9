"""What the zone API tests share: a plain HTTP client (urllib) and a small zone document."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import dns.message
import dns.rcode

TOKEN = "zone-writer"

ZONE = "api.test."
ZONE_TEXT = """\
# hand-written: this comment is the operator's
zone: api.test.
ttl: 30
soa: {mname: ns1.api.test., rname: hostmaster.api.test., serial: auto}
ns: [ns1.api.test.]
pools:
  eu:
    addresses: [192.0.2.10, 192.0.2.11]
  us:
    addresses: [198.51.100.10]
records:
  ns1: {A: 192.0.2.53}
  www:
    geo:
      continent:EU: eu
      default: us
  static: {A: [192.0.2.1]}
"""


def call(
    addr: tuple[str, int],
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    timeout: float = 10.0,
) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON body or text, headers) of one request; JSON bodies unless `raw`."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(f"http://{addr[0]}:{addr[1]}{path}", data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None and raw is None:
        req.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, _decode(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, _decode(exc.read()), dict(exc.headers)


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data or b"null")
    except ValueError:
        return data.decode(errors="replace")


def answers(server: Any, name: str, rtype: str = "A") -> tuple[str, list[str]]:
    """(rcode text, sorted answer data) from a server thread over UDP."""
    reply = server.udp(dns.message.make_query(name, rtype), timeout=2)
    data = sorted(rr.to_text() for rrset in reply.answer for rr in rrset)
    return dns.rcode.to_text(reply.rcode()), data


def soa_serial(server: Any, zone: str = ZONE) -> int | None:
    reply = server.udp(dns.message.make_query(zone, "SOA"), timeout=2)
    return reply.answer[0][0].serial if reply.answer else None


def rrset_patch(name: str, rtype: str, contents: list[str], change: str = "REPLACE") -> dict:
    records = [{"content": c} for c in contents]
    return {"rrsets": [{"name": name, "type": rtype, "changetype": change, "records": records}]}
