"""What the integration tests share: a served zone with RFC 2136 keys and API tokens."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.zonekit import call
from tests.servers import ServerThread, write_config

ZONE = "int.test."
SECRET = base64.b64encode(b"integration-test-secret-32-bytes").decode()
OTHER_SECRET = base64.b64encode(b"some-other-secret-of-32-bytes-xx").decode()
WRITE_TOKEN = "writer-token"
ZONE_TEXT = """\
zone: int.test.
ttl: 30
soa: {mname: ns1.int.test., rname: hostmaster.int.test., serial: auto}
ns: [ns1.int.test.]
pools:
  eu: {addresses: [192.0.2.10]}
  us: {addresses: [198.51.100.10]}
records:
  ns1: {A: 192.0.2.53}
  www:
    geo: {continent:EU: eu, default: us}
  static: {A: [192.0.2.1], TXT: ["hello"]}
"""


@dataclass
class Served:
    server: ServerThread
    zones: Path
    tmp: Path

    @property
    def api(self) -> str:
        host, port = self.server.app.http_bound
        return f"http://{host}:{port}"

    @property
    def dns(self) -> tuple[str, int]:
        return self.server.where(4)

    @property
    def at(self) -> dict:
        """where= and port= for dns.query.udp/tcp."""
        host, port = self.dns
        return {"where": host, "port": port}

    def history(self, zone: str = ZONE) -> list[dict]:
        status, body, _ = call(
            self.server.app.http_bound, "GET", f"/api/v1/zones/{zone}/history", token=WRITE_TOKEN
        )
        assert status == 200, body
        return body["versions"]


def serve(tmp: Path, *, updates: bool = True, workers: int | None = None, **sections) -> Served:
    zones = tmp / "zones"
    zones.mkdir(exist_ok=True)
    (zones / "int.test.yaml").write_text(ZONE_TEXT)
    (tmp / "write").write_text(WRITE_TOKEN)
    (tmp / "acme.key").write_text(SECRET + "\n")
    (tmp / "ops.key").write_text(OTHER_SECRET + "\n")
    conf_sections = dict(sections)
    conf_sections.setdefault(
        "http", {"listen": "127.0.0.1:0", "write_token_file": str(tmp / "write")}
    )
    if updates:
        conf_sections["updates"] = {
            "tsig_keys": {
                "acme": {"algorithm": "hmac-sha256", "secret_file": str(tmp / "acme.key")},
                "ops": {"algorithm": "hmac-sha512", "secret_file": str(tmp / "ops.key")},
            },
            "allow": [
                {
                    "key": "acme",
                    "names": ["_acme-challenge", "_acme-challenge.*"],
                    "types": ["TXT"],
                },
                {"key": "ops", "names": ["*"], "types": ["A", "AAAA", "TXT", "CNAME"]},
            ],
        }
    if workers is not None:
        conf_sections["dns"] = {"workers": workers}
    conf = write_config(tmp, zones, **conf_sections)
    return Served(ServerThread(conf).start(), zones, tmp)
