"""`dns.workers: auto`: the CPUs this process may use (affinity), capped by the tightest cgroup
CPU quota from its own group up to the root (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from geodns.config import DnsConfig
from geodns.serve.cpus import usable_cpus, worker_count

AFFINITY = len(os.sched_getaffinity(0))


def cgroup_tree(tmp: Path, listing: str, files: dict[str, str]) -> tuple[str, str]:
    """A fake /sys/fs/cgroup and /proc/self: the `cgroup` listing and files under the root."""
    root, proc = tmp / "cgroup", tmp / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(listing)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    root.mkdir(exist_ok=True)
    return str(root), str(proc)


V2 = "0::/kubepods/pod1/ctr\n"
V1 = "4:cpu,cpuacct:/docker/abc\n"
POD, CTR = "kubepods/pod1/cpu.max", "kubepods/pod1/ctr/cpu.max"


def v1(quota: str) -> dict[str, str]:
    return {"cpu/cpu.cfs_quota_us": quota, "cpu/cpu.cfs_period_us": "100000"}


CASES = [
    # (listing, files, expected CPUs, or None for "the affinity count")
    (V2, {CTR: "100000 100000\n"}, 1),
    (V2, {CTR: "150000 100000\n"}, 2),  # 1.5 CPUs: rounded up
    (V2, {CTR: "50000 100000\n"}, 1),  # half a CPU: still one
    (V2, {CTR: "max 100000\n"}, None),
    (V2, {POD: "100000 100000\n", CTR: "max 100000"}, 1),  # the pod's quota binds
    ("0::/\n", {"cpu.max": "100000 100000\n"}, 1),  # a container's own cgroup namespace
    (V2, {}, None),  # no cpu controller files at all
    (V2, {CTR: "garbage\n"}, None),
    # cgroup v1: the cpu hierarchy; in a container the group shows at the mount's root
    (V1, v1("100000"), 1),
    (V1, v1("-1"), None),
    ("4:memory:/x\n", {"cpu.max": "100000 100000"}, None),  # not the cpu controller
]


@pytest.mark.parametrize(("listing", "files", "expected"), CASES)
def test_usable_cpus(
    tmp_path: Path, listing: str, files: dict[str, str], expected: int | None
) -> None:
    root, proc = cgroup_tree(tmp_path, listing, files)
    assert usable_cpus(root, proc) == min(expected or AFFINITY, AFFINITY)


def test_missing_proc_listing_means_affinity(tmp_path: Path) -> None:
    assert usable_cpus(str(tmp_path), str(tmp_path / "nowhere")) == AFFINITY


def test_workers_auto_and_numbers() -> None:
    assert worker_count(DnsConfig(workers=3)) == 3
    assert 1 <= worker_count(DnsConfig(workers="auto")) <= AFFINITY


def test_workers_auto_follows_cpu_affinity() -> None:
    """A process pinned to one CPU (taskset, a cpuset) runs one worker, whatever the host has."""
    code = (
        "from geodns.config import DnsConfig; from geodns.serve.cpus import worker_count; "
        "print(worker_count(DnsConfig(workers='auto')))"
    )
    first = sorted(os.sched_getaffinity(0))[0]
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {first}),
    )
    assert (result.returncode, result.stdout.strip()) == (0, "1"), result.stderr
