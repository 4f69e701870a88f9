"""The Makefile and .ci/run as a newcomer and CI meet them: one apt list for both, the
second and third e2e runs limited to the marked tests (and never empty), `make bench`
self-contained, and CI on Debian's own externally managed python3 where there is one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APT = REPO / ".ci" / "apt-packages"

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make missing")


def plan(*goals: str) -> str:
    """`make -n GOALS` as a newcomer types it (no MAKEFLAGS inherited from a parent make)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *goals, f"PYTHON={sys.executable}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def apt_list() -> list[str]:
    return [
        line.split("#")[0].strip()
        for line in APT.read_text().splitlines()
        if line.split("#")[0].strip()
    ]


@needs_make
def test_one_apt_list_for_make_and_ci() -> None:
    packages = apt_list()
    assert {"python3-venv", "python3-dev", "bind9-dnsutils", "prometheus", "kubectl"} <= set(
        packages
    )
    tools = plan("test-tools")
    assert " ".join(packages) in tools  # the Makefile reads the file, not a copy
    ci = (REPO / ".ci" / "run").read_text()
    assert ".ci/apt-packages" in ci and "apt-get install" in ci


@needs_make
def test_reruns_are_only_the_marked_tests_and_select_some() -> None:
    steps = plan("test").splitlines()
    reruns = [s for s in steps if "pytest" in s and "tests/e2e" in s]
    expected = [  # the interpreter is make's $(PY): this checkout's .venv, or ours
        r"GEODNS_TEST_WORKERS=2 \S+python\S* -m pytest -q -m workers tests/e2e",
        r"GEODNS_TEST_FAST_PATH=python \S+python\S* -m pytest -q -m fast_path tests/e2e",
    ]
    assert len(reruns) == 2 and all(map(re.fullmatch, expected, reruns)), reruns
    for marker in ("workers", "fast_path"):
        collected = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", marker, "tests/e2e"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        found = re.search(r"(\d+)/(\d+) tests collected", collected)
        assert found, collected[-500:]
        selected, total = int(found.group(1)), int(found.group(2))
        assert 0 < selected < total, (marker, selected, total)


@needs_make
def test_make_bench_needs_nothing_outside_the_repository() -> None:
    steps = plan("bench")
    assert "bash bench/install-peers.sh" in steps and "bash bench/run.sh" in steps
    for script in (
        "install-peers.sh",
        "start-pdns.sh",
        "start-gdnsd.sh",
        "start-knot.sh",
        "compare.sh",
        "floor.py",
    ):
        assert (REPO / "bench" / script).is_file(), script
    run = (REPO / "bench" / "run.sh").read_text()
    for mix in ("static", "geo", "nxdomain"):
        assert (REPO / "bench" / "queries" / f"{mix}.txt").is_file(), mix
    assert "$here/start-$t.sh" in run and '"$here/compare.sh"' in run


def test_ci_takes_debians_python_when_it_is_externally_managed() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "py=/usr/bin/python3" in ci and "EXTERNALLY-MANAGED" in ci
    assert "export PYTHON=$py" in ci and ci.rstrip().endswith("exec make test")
