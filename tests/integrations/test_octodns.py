"""octoDNS from PyPI (octodns-dump, octodns-sync) against a running geodns through
GeodnsProvider: dump (a geodns-only node as the octodns.geodns payload), sync static and
dynamic records (pools, weights, fallback, rules with geos and subnets, status,
healthcheck), answers checked with dig, a second sync plans no change, and a sync the API
refuses shows its problems and changes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.zonekit import call
from tests.integrations.kit import WRITE_TOKEN, ZONE, serve

octodns = pytest.importorskip("octodns", reason="pip install 'geodns[octodns]'")
BIN = Path(sys.executable).parent
DIG = shutil.which("dig")

NEW = {
    "mail": {"type": "A", "value": "192.0.2.25"},
    "": [
        {"type": "MX", "values": [{"preference": 10, "exchange": "mail.int.test."}]},
        {"type": "TXT", "value": "v=spf1 mx -all\\; no semicolons harmed"},
    ],
    "docs": {"type": "CNAME", "value": "mail.int.test."},
    "_sip._tcp": {
        "type": "SRV",
        "value": {"priority": 10, "weight": 5, "port": 5060, "target": "mail.int.test."},
    },
    "infer": {
        "type": "A",
        "ttl": 60,
        "values": ["203.0.113.99"],
        "dynamic": {
            "pools": {
                "eu": {
                    "values": [
                        {"value": "192.0.2.51", "weight": 3},
                        {"value": "192.0.2.52", "weight": 1, "status": "up"},
                    ],
                    "fallback": "us",
                },
                "us": {"values": [{"value": "198.51.100.51", "status": "up"}]},
                "lab": {"values": [{"value": "10.9.9.9", "status": "up"}]},
            },
            "rules": [
                {"subnets": ["10.0.0.0/8"], "pool": "lab"},
                {"geos": ["EU", "NA-US-CA"], "pool": "eu"},
                {"pool": "us"},
            ],
        },
        "octodns": {
            "healthcheck": {
                "host": "infer.int.test",
                "path": "/healthz",
                "port": 8443,
                "protocol": "HTTPS",
            }
        },
    },
}


def _run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GEODNS_TOKEN": WRITE_TOKEN}
    return subprocess.run(
        [str(BIN / tool), *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("octodns")
    served = serve(tmp, updates=False)
    (tmp / "config").mkdir()
    conf = {
        "providers": {
            "config": {
                "class": "octodns.provider.yaml.YamlProvider",
                "directory": str(tmp / "config"),
                "default_ttl": 30,
            },
            "dump": {"class": "octodns.provider.yaml.YamlProvider", "directory": str(tmp / "dump")},
            "geodns": {
                "class": "geodns.integrations.octodns.GeodnsProvider",
                "url": served.api,
                "token": "env/GEODNS_TOKEN",
            },
        },
        "zones": {ZONE: {"sources": ["config"], "targets": ["geodns"]}},
    }
    (tmp / "octodns.yaml").write_text(yaml.safe_dump(conf))
    yield served, tmp
    served.server.stop()


def test_dump_sync_answers_and_second_sync_plans_nothing(synced) -> None:
    served, tmp = synced
    dump = _run(
        "octodns-dump",
        "--config-file",
        "octodns.yaml",
        "--output-dir",
        "dump",
        ZONE,
        "geodns",
        cwd=tmp,
    )
    assert dump.returncode == 0, dump.stderr
    dumped = yaml.safe_load((tmp / "dump" / f"{ZONE}yaml").read_text())
    www = dumped["www"]
    www = www if isinstance(www, dict) else www[0]
    payload = www["octodns"]["geodns"]  # the geo node over hand-named pools: opaque
    assert payload["node"] == {"geo": {"continent:EU": "eu", "default": "us"}}
    assert sorted(payload["pools"]) == ["eu", "us"]
    source = {**dumped, **NEW}
    (tmp / "config" / f"{ZONE}yaml").write_text(yaml.safe_dump(source))
    sync = _run("octodns-sync", "--config-file", "octodns.yaml", "--doit", cwd=tmp)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert served.history()[-1]["who"].endswith("via octodns")
    host, port = served.dns
    dig = [DIG, f"@{host}", "-p", str(port), "+short"]

    def ask(*args: str) -> list[str]:
        run = subprocess.run([*dig, *args], capture_output=True, text=True, timeout=10)
        return sorted(run.stdout.split())

    assert ask("mail.int.test", "A") == ["192.0.2.25"]
    assert ask("int.test", "MX") == ["10", "mail.int.test."]
    txt = subprocess.run([*dig, "int.test", "TXT"], capture_output=True, text=True, timeout=10)
    assert txt.stdout.strip() == '"v=spf1 mx -all; no semicolons harmed"'
    assert ask("docs.int.test", "CNAME") == ["mail.int.test."]
    assert ask("infer.int.test", "A", "+subnet=10.1.2.0/24") == ["10.9.9.9"]  # the subnets rule
    assert ask("infer.int.test", "A") == ["198.51.100.51"]  # no GeoIP here: the catch-all
    assert ask("www.int.test", "A") == ["198.51.100.10"]  # the opaque node still routes
    again = _run("octodns-sync", "--config-file", "octodns.yaml", cwd=tmp)
    assert again.returncode == 0, again.stderr
    assert "No changes were planned" in again.stdout + again.stderr, again.stdout + again.stderr


def test_dynamic_record_reads_back_as_written(synced) -> None:
    served, tmp = synced
    dump = _run(
        "octodns-dump",
        "--config-file",
        "octodns.yaml",
        "--output-dir",
        "dump2",
        ZONE,
        "geodns",
        cwd=tmp,
    )
    assert dump.returncode == 0, dump.stderr
    back = yaml.safe_load((tmp / "dump2" / f"{ZONE}yaml").read_text())["infer"]
    want = NEW["infer"]
    assert back["dynamic"]["rules"] == want["dynamic"]["rules"]
    eu = back["dynamic"]["pools"]["eu"]
    assert eu["fallback"] == "us"
    assert {(v["value"], v.get("weight", 1), v.get("status", "obey")) for v in eu["values"]} == {
        ("192.0.2.51", 3, "obey"),
        ("192.0.2.52", 1, "up"),
    }
    assert back["octodns"]["healthcheck"] == want["octodns"]["healthcheck"]
    assert back.get("values", [back.get("value")]) == want["values"]
    status, doc, _ = call(served.server.app.http_bound, "GET", f"/api/v1/zones/{ZONE}")
    assert status == 200
    assert doc["records"]["infer"]["geo"]["cidr:10.0.0.0/8"] == {
        "failover": [{"weighted": {"infer/lab/0:up": 1}}, "infer/values"]
    }
    assert doc["records"]["infer"]["geo"]["subdivision:US-CA"]["failover"][0] == {
        "weighted": {"infer/eu/0": 3, "infer/eu/1:up": 1}
    }
    assert doc["pools"]["infer/eu/0"]["check"] == "infer/check"
    assert "check" not in doc["pools"]["infer/eu/1:up"]  # status up: no check
    assert doc["checks"]["infer/check"] == {
        "type": "https",
        "port": 8443,
        "path": "/healthz",
        "host": "infer.int.test",
    }


def test_refused_sync_shows_problems_and_changes_nothing(synced) -> None:
    served, tmp = synced
    before = served.history()[-1]["version"]
    source = yaml.safe_load((tmp / "config" / f"{ZONE}yaml").read_text())
    www = source["www"] if isinstance(source["www"], dict) else source["www"][0]
    www["octodns"]["geodns"]["pools"]["eu"]["addresses"] = ["not-an-address"]
    source["extra"] = {"type": "A", "value": "192.0.2.200"}  # would go in with it, whole
    (tmp / "config" / f"{ZONE}yaml").write_text(yaml.safe_dump(source))
    sync = _run("octodns-sync", "--config-file", "octodns.yaml", "--doit", cwd=tmp)
    out = sync.stdout + sync.stderr
    assert sync.returncode != 0
    assert "HTTP 422" in out and "pools.eu.addresses" in out and "not-an-address" in out, out
    assert served.history()[-1]["version"] == before
