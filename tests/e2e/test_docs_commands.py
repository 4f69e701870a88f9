"""The docs' commands, run as written against a real server so they cannot rot: the README's
quick-start digs and `geodns explain`, the drain curl of docs/operations.md, and the
runbook's `dig +nsid` check. Only the port (an ephemeral one for 5353/8053) and the token
path are put in; each command's expected outcome is written here, keyed by the command, so
a new or changed command fails until someone says what it should show."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from geodns.config import demo_geoip_path
from tests.servers import REPO, ServerThread, write_config

pytestmark = [
    pytest.mark.skipif(shutil.which("dig") is None, reason="dig missing (bind9-dnsutils)"),
    pytest.mark.skipif(demo_geoip_path() is None, reason="maxminddb-geolite2 missing"),
]

EU_WEST = {"192.0.2.10", "192.0.2.11"}  # zones/gslb.example.com.yaml's pools
AP_NORTHEAST = {"203.0.113.10"}
US_EAST = {"198.51.100.10"}


def block_after(text: str, marker: str) -> list[str]:
    """The command lines of the first fenced block after `marker`, continuations joined."""
    block = text.split(marker, 1)[1].split("```", 2)[1]
    lines, joined = block.splitlines()[1:], []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + line.strip()
        elif line.strip() and not line.startswith("#"):
            joined.append(line.strip())
    return joined


def readme_commands() -> list[str]:
    return block_after((REPO / "README.md").read_text(), "Then, from another terminal:")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Path]]:
    """The README's demo (repo zones, demo GeoIP), with NSID and a token, on free ports."""
    tmp = tmp_path_factory.mktemp("docs")
    token = tmp / "token"
    token.write_text("s3cret\n")
    conf = write_config(
        tmp,
        REPO / "zones",
        dns={"listen": ["127.0.0.1:0"], "nsid": True},
        http={"listen": "127.0.0.1:0", "token_file": str(token)},
        geoip={"city": demo_geoip_path()},
        instance="geodns-7f9c4-x2x9q",
    )
    running = ServerThread(conf).start()
    yield running, token
    running.stop()


def run(command: str, server: ServerThread, token: Path) -> str:
    """A doc's command with our port, address and token put in; its output (exit 0)."""
    dns_port = server.addresses[0][1]
    host, http_port = server.app.http_bound
    command = command.split("  #", 1)[0].strip()  # the line's comment is not the command
    command = command.replace("-p 5353", f"-p {dns_port}")
    command = command.replace("127.0.0.1:8053", f"{host}:{http_port}")
    command = command.replace("/etc/geodns/token", str(token))
    if command.startswith("geodns "):
        command = f"{sys.executable} -m {command}"
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout


def answers(out: str, rtype: str = "A") -> set[str]:
    return {f[4] for line in out.splitlines() if len(f := line.split()) == 5 and f[3] == rtype}


def static(out: str) -> None:
    assert "flags: qr aa" in out and answers(out) == {"192.0.2.1"}


def london(out: str) -> None:
    assert answers(out) and answers(out) <= EU_WEST
    assert re.search(r"CLIENT-SUBNET: 81\.2\.69\.0/24/\d+", out)


def tokyo(out: str) -> None:
    assert answers(out) == AP_NORTHEAST


def nxdomain(out: str) -> None:
    assert "status: NXDOMAIN" in out
    assert re.search(r"AUTHORITY SECTION:\ngslb\.example\.com\.\s+\d+\s+IN\s+SOA\s", out)


def over_tcp(out: str) -> None:
    # no ECS over TCP from 127.0.0.1: the demo GeoIP has no location for it -> default
    assert "flags: qr aa" in out and answers(out) == US_EAST


def explained(out: str) -> None:
    assert "eu-west" in out and "192.0.2.10" in out


EXPECTED = {
    "dig @127.0.0.1 -p 5353 static.gslb.example.com A": static,
    "dig @127.0.0.1 -p 5353 www.gslb.example.com A +subnet=81.2.69.0/24": london,
    "dig @127.0.0.1 -p 5353 www.gslb.example.com A +subnet=1.0.16.0/24": tokyo,
    "dig @127.0.0.1 -p 5353 nope.gslb.example.com A": nxdomain,
    "dig @127.0.0.1 -p 5353 www.gslb.example.com A +tcp": over_tcp,
    "geodns explain www.gslb.example.com A --client 192.0.2.1 --ecs 81.2.69.0/24": explained,
}


def test_every_readme_command_has_an_expectation() -> None:
    commands = [c.split("  #", 1)[0].strip() for c in readme_commands()]
    assert commands == list(EXPECTED)


@pytest.mark.parametrize("command", readme_commands(), ids=lambda c: c.split("  #")[0][:60])
def test_readme_command_does_what_it_says(server, command: str) -> None:
    running, token = server
    EXPECTED[command.split("  #", 1)[0].strip()](run(command, running, token))


def test_drain_curl_of_operations_md_drains(server) -> None:
    running, token = server
    text = (REPO / "docs" / "operations.md").read_text()
    curls = [c for c in block_after(text, "## Drain") if c.startswith("curl")]
    assert curls and "/members/192.0.2.10/drain" in curls[0]
    london_ask = next(c for c in readme_commands() if "81.2.69.0" in c)
    try:
        assert run(curls[0], running, token).strip()  # the API says what it did
        assert answers(run(london_ask, running, token)) == EU_WEST - {"192.0.2.10"}
    finally:
        undrain = curls[0].replace("/drain", "/undrain")
        run(undrain, running, token)
    assert answers(run(london_ask, running, token)) == EU_WEST


def test_runbook_dig_nsid_names_the_instance(server) -> None:
    """The first-rollout check from outside: aa, the European pool, and NSID naming the pod."""
    running, token = server
    text = (REPO / "docs" / "operations.md").read_text()
    step = re.search(r"`(dig @\$NS1 www\.gslb\.example\.com A [^`]*\+nsid[^`]*)`", text)
    assert step, "the runbook's dig +nsid check"
    out = run(step.group(1).replace("@$NS1", "@127.0.0.1 -p 5353"), running, token)
    assert "flags: qr aa" in out and answers(out) <= EU_WEST
    assert "NSID: " in out and "geodns-7f9c4-x2x9q" in out
