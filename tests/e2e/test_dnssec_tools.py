"""The signed zone as DNSSEC debuggers see it: dnsviz (probe + grok) and Zonemaster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from geodns.dnssec import keyfile, sign
from tests.servers import REPO, ServerThread, write_config

ZONE = "gslb.example.com."
ZONEFILE = """zone: gslb.example.com.
ttl: 3600
dnssec: {keys: ../keys}
soa: {mname: ns1.gslb.example.com., rname: hostmaster.gslb.example.com., serial: 2026120601,
      refresh: 14400, retry: 3600, expire: 1209600, minimum: 300}
ns: [ns1.gslb.example.com., ns2.gslb.example.com.]
pools:
  eu: {addresses: [192.0.2.10, "2001:db8::10"]}
  us: {addresses: [198.51.100.10]}
records:
  ns1: {A: 127.0.0.1}
  ns2: {A: 127.0.0.2}
  "@": {MX: ["10 mail.gslb.example.com."], TXT: ["v=spf1 -all"]}
  mail: {A: 192.0.2.25}
  www: {geo: {continent:EU: eu, default: us}}
  canary: {weighted: {us: 9, eu: 1}}
  alias: {CNAME: www}
  "*.edge": {A: 192.0.2.99}
"""


def signed_zone(tmp: Path) -> keyfile.Key:
    key = keyfile.generate(ZONE)
    keyfile.write_key(key, tmp / "keys")
    (tmp / "zones").mkdir()
    (tmp / "zones" / "gslb.example.com.yaml").write_text(ZONEFILE)
    return key


def ds_text(key: keyfile.Key, sep: str) -> str:
    return sep.join([str(key.tag), "13", "2", sign.ds_rdata(key)[4:].hex().upper()])


@pytest.mark.skipif(
    not (shutil.which("dnsviz") and shutil.which("named")), reason="dnsviz and named needed"
)
def test_dnsviz_finds_no_errors_or_warnings(tmp_path: Path) -> None:
    key = signed_zone(tmp_path)
    server = ServerThread(
        write_config(tmp_path, tmp_path / "zones", dns={"listen": ["127.0.0.1:0"]})
    ).start()
    try:
        host, port = server.where()
        names = [ZONE, *(f"{n}.{ZONE}" for n in ("www", "canary", "alias", "x.edge", "nope"))]
        probe = subprocess.run(
            [
                "dnsviz",
                "probe",
                "-A",
                "-x",
                f"{ZONE}:{host}:{port}",
                "-N",
                f"{ZONE}:ns1.{ZONE}={host}:{port}",
                "-D",
                f"{ZONE}:{ds_text(key, ' ')}",
                *names,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert probe.returncode == 0, probe.stderr
        grok = subprocess.run(
            ["dnsviz", "grok", "-l", "warning"],
            input=probe.stdout,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert grok.returncode == 0 and grok.stdout.strip() in ("", "{}"), grok.stdout[:3000]
        full = json.loads(
            subprocess.run(
                ["dnsviz", "grok"], input=probe.stdout, capture_output=True, text=True, timeout=60
            ).stdout
        )
        www = full[f"www.{ZONE}"]["queries"][f"www.{ZONE}/IN/A"]["answer"][0]
        assert [s["status"] for s in www["rrsig"]] == ["VALID"]
    finally:
        server.stop()


def _netns_ok() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@pytest.mark.skipif(
    not (shutil.which("zonemaster-cli") and _netns_ok()),
    reason="zonemaster-cli and root (a network namespace: Zonemaster asks port 53) needed",
)
def test_zonemaster_reports_nothing_about_dnssec(tmp_path: Path) -> None:
    """Zonemaster only speaks to port 53, so the server runs in a network namespace of the
    test's own (127.0.0.1 and .2 there), never on the host's port 53."""
    key = signed_zone(tmp_path)
    ns = f"geodns-zm-{uuid.uuid4().hex[:8]}"
    conf = write_config(
        tmp_path,
        tmp_path / "zones",
        dns={"listen": ["127.0.0.1:53", "127.0.0.2:53"], "workers": 1},
        http={"listen": "127.0.0.1:8053"},
    )
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc = None
    try:
        inside = ["ip", "netns", "exec", ns]
        subprocess.run([*inside, "ip", "link", "set", "lo", "up"], check=True)
        subprocess.run([*inside, "ip", "addr", "add", "127.0.0.2/8", "dev", "lo"], check=True)
        log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [*inside, sys.executable, "-m", "geodns", "serve", "--config", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        deadline = time.monotonic() + 30
        while "port 53" not in (tmp_path / "server.log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "server.log"
            ).read_text()
            time.sleep(0.1)
        out = subprocess.run(
            [
                *inside,
                "zonemaster-cli",
                "--no-ipv6",
                "--show-module",
                "--level",
                "INFO",
                "--ns",
                f"ns1.{ZONE}/127.0.0.1",
                "--ns",
                f"ns2.{ZONE}/127.0.0.2",
                "--ds",
                ds_text(key, ","),
                ZONE,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
        dnssec = [line for line in out.splitlines() if " DNSSEC " in line]
        assert dnssec, out  # the DNSSEC tests ran
        bad = [line for line in dnssec if line.split()[1] in ("WARNING", "ERROR", "CRITICAL")]
        assert not bad, "\n".join(dnssec)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)
        subprocess.run(["ip", "netns", "del", ns], check=False)
