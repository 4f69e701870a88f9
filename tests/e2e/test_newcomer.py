"""What a new user meets first (issue 13): the quick start on a PEP 668 Python, the embedded
default on [::1] too, a log line per reload, bind errors in words, --version, and
subdivision codes checked against ISO 3166-2."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from geodns import __version__
from geodns.ops.reloadlog import reload_line
from tests.servers import REPO, ServerProcess, wait_for, write_config

SYSTEM_PYTHON = "/usr/bin/python3"


def geodns(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "geodns", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        **kw,
    )


def test_version_flag_and_command() -> None:
    for args in (["--version"], ["version"]):
        done = geodns(*args)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == f"geodns {__version__}"
    done = geodns()
    assert done.returncode == 2 and "a command is required" in done.stderr


SUBDIVISION_ZONE = """\
zone: sub.test.
ttl: 60
ns: [ns1.sub.test.]
pools:
  west: {addresses: [192.0.2.1]}
  rest: {addresses: [192.0.2.2]}
records:
  ns1: {A: 192.0.2.53}
  www:
    geo:
      subdivision:US-CA: west
      subdivision:%s: west
      default: rest
"""


def test_unknown_subdivision_rejected_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sub.test.yaml"
    path.write_text(SUBDIVISION_ZONE % "US-ZZ")
    done = geodns("check", str(path))
    assert done.returncode == 1
    assert f"{path}:12: geo: 'subdivision:US-ZZ': no such ISO 3166-2 subdivision" in done.stderr
    for real in ("GB-ENG", "FR-IDF", "DE-BE", "JP-13"):  # codes GeoIP databases give
        path.write_text(SUBDIVISION_ZONE % real)
        done = geodns("check", str(path))
        assert done.returncode == 0, done.stderr


def _busy_config(tmp_path: Path, dns_listen: str, **http) -> Path:
    zones = tmp_path / "zones"
    zones.mkdir(exist_ok=True)
    shutil.copy(REPO / "zones" / "gslb.example.com.yaml", zones)
    return write_config(
        tmp_path, zones, dns={"listen": [dns_listen]}, http={"listen": "127.0.0.1:0", **http}
    )


def test_bind_error_in_use_names_address_protocol_remedy(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        done = geodns("serve", "--config", str(_busy_config(tmp_path, f"127.0.0.1:{port}")))
    assert done.returncode == 1
    expected = (
        f"cannot listen on UDP 127.0.0.1:{port}: address already in use "
        "(another DNS server? pick another port in dns.listen)"
    )
    assert expected in done.stderr, done.stderr
    assert "Errno" not in done.stderr


def test_bind_error_http_in_use(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        conf = _busy_config(tmp_path, "127.0.0.1:0", listen=f"127.0.0.1:{port}")
        done = geodns("serve", "--config", str(conf))
    assert done.returncode == 1
    assert f"cannot listen on HTTP 127.0.0.1:{port}: address already in use" in done.stderr
    assert "pick another port in http.listen" in done.stderr


def test_bind_error_privileged_port_names_the_capability(tmp_path: Path) -> None:
    """Without CAP_NET_BIND_SERVICE (dropped from the bounding set: root loses it at exec),
    a port below 1024 is refused: the message says which capability, and the way round."""
    setpriv = shutil.which("setpriv")
    start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    if setpriv is None or start <= 999:
        pytest.skip("needs setpriv and ports below 1024 privileged")
    conf = _busy_config(tmp_path, "127.0.0.1:999")
    command = [setpriv, "--bounding-set=-net_bind_service", sys.executable, "-m", "geodns"]
    done = subprocess.run(
        [*command, "serve", "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 1
    assert "cannot listen on UDP 127.0.0.1:999: permission denied" in done.stderr, done.stderr
    assert "CAP_NET_BIND_SERVICE" in done.stderr and "dns.listen" in done.stderr


def _serve_embedded_in_netns(setup: str) -> str:
    """`geodns serve` with no --config in a network namespace of its own (its 5353 and 8053
    are free whatever runs here); its log up to the zone line, after SIGTERM."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2)")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace: {probe.stderr.decode().strip()}")
    script = f"ip link set lo up && {setup} exec {sys.executable} -m geodns serve"
    proc = subprocess.Popen(
        ["unshare", "-n", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        for line in proc.stdout:
            lines.append(line)
            if "zone gslb.example.com. serial" in line or time.monotonic() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=15)[0]
    return "".join(lines) + out


def test_embedded_default_listens_on_ipv6_loopback_too() -> None:
    log = _serve_embedded_in_netns("")
    assert "listening on 127.0.0.1 port 5353 (UDP and TCP)" in log, log
    assert "listening on ::1 port 5353 (UDP and TCP)" in log, log


def test_embedded_default_without_ipv6_goes_on_with_ipv4() -> None:
    log = _serve_embedded_in_netns("sysctl -qw net.ipv6.conf.lo.disable_ipv6=1 &&")
    assert "no IPv6 loopback here" in log and "listening on 127.0.0.1:5353 only" in log, log
    assert "listening on 127.0.0.1 port 5353 (UDP and TCP)" in log, log
    assert "::1 port" not in log


RELOAD_ZONE = """\
zone: rl.test.
ttl: 60
soa: {{mname: ns1.rl.test., rname: h.rl.test., serial: {serial}}}
ns: [ns1.rl.test.]
records:
  ns1: {{A: 192.0.2.53}}
"""


def test_successful_reload_logs_one_line(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "rl.test.yaml").write_text(RELOAD_ZONE.format(serial=5))
    conf = write_config(tmp_path, zones, dns={"listen": ["127.0.0.1:0"]})
    server = ServerProcess(["serve", "--config", str(conf)]).start()
    try:
        (zones / "rl.test.yaml").write_text(RELOAD_ZONE.format(serial=6))
        server.signal(signal.SIGHUP)
        line = wait_for(
            lambda: next((x for x in server.log_lines if "reload ok:" in x), None), timeout=15
        )
        assert re.search(r"reload ok: 1 zone; changed rl\.test\. 5->6; generation \w+", line)
        server.signal(signal.SIGHUP)  # nothing changed: said too
        wait_for(lambda: "reload ok: 1 zone; no serial changed" in server.log, timeout=15)
    finally:
        assert server.stop() == 0


class _Zone:
    def __init__(self, origin: str, serial: int) -> None:
        self.origin_text, self.serial = origin, serial


def test_reload_line_names_changes() -> None:
    before = {b"a": _Zone("a.", 1), b"b": _Zone("b.", 2)}
    after = {b"a": _Zone("a.", 3), b"c": _Zone("c.", 9)}
    line = reload_line(before, after, "0123456789abcdef")
    assert (
        line
        == "reload ok: 2 zones; changed a. 1->3; added c. (9); removed b.; generation 0123456789ab"
    )


def _externally_managed(python: str) -> bool:
    if not os.access(python, os.X_OK):
        return False
    code = (
        "import os, sys, sysconfig; m = os.path.join(sysconfig.get_path('stdlib'), "
        "'EXTERNALLY-MANAGED'); print(sys.prefix == sys.base_prefix and os.path.exists(m))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return done.stdout.strip() == "True"


def test_quick_start_uses_a_venv_where_pip_refuses(tmp_path: Path) -> None:
    """On Debian 12's own python3 (PEP 668), `make run` and `make test` install into a
    venv made in the checkout; elsewhere they use the Python they are given."""
    if not _externally_managed(SYSTEM_PYTHON):
        pytest.skip(f"{SYSTEM_PYTHON} is not an externally managed (PEP 668) Python here")
    shutil.copy(REPO / "Makefile", tmp_path)
    # As a newcomer types it, not as a sub-make of `make test` (no inherited MAKEFLAGS).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    plans = {
        goal: subprocess.run(
            ["make", "--no-print-directory", "-n", goal, f"PYTHON={SYSTEM_PYTHON}"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
        ).stdout
        for goal in ("run", "test")
    }
    plan = plans["run"] + plans["test"]
    assert f"{SYSTEM_PYTHON} -m venv .venv" in plans["run"]
    assert f"{SYSTEM_PYTHON} -m venv .venv" in plans["test"]
    # serving installs what serving needs; the test tools only come with `make test`
    assert ".venv/bin/python -m pip install -q -e '.[demo]'" in plans["run"]
    assert "test" not in plans["run"].split("pip install", 1)[1].split("\n", 1)[0]
    assert ".venv/bin/python -m pip install -q -e '.[test,demo]'" in plans["test"]
    assert ".venv/bin/geodns serve" in plan and ".venv/bin/python -m pytest -q" in plan
    assert f"{SYSTEM_PYTHON} -m pip" not in plan
    here = sysconfig.get_paths()["stdlib"]
    if not Path(here, "EXTERNALLY-MANAGED").exists():  # the Python running these tests
        plan = subprocess.run(
            ["make", "--no-print-directory", "-n", "install", f"PYTHON={sys.executable}"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
        ).stdout
        assert plan.strip() == f"{sys.executable} -m pip install -q -e '.[demo]'"


def test_readme_starts_with_the_two_commands_ci_runs() -> None:
    """The README's first code block is the quick start: `make run` and `make test`, and
    CI runs exactly the second."""
    text = (REPO / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    assert text.index("```sh") < 20  # right under the title
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "exec make test" in ci
