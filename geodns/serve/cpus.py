"""How many workers `workers: auto` means: the CPUs this process may really use."""

from __future__ import annotations

import os
from pathlib import Path

from geodns.config import DnsConfig


def worker_count(dns: DnsConfig) -> int:
    """dns.workers, with "auto" read as the CPUs this process may run on (see usable_cpus)."""
    return usable_cpus() if dns.workers == "auto" else int(dns.workers)


def usable_cpus(cgroup_root: str = "/sys/fs/cgroup", proc: str = "/proc/self") -> int:
    """What `workers: auto` means: the CPUs this process may run on (its affinity), capped
    by the tightest CPU quota of its cgroups, from its own up to the root (v2 and v1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        cpus = os.cpu_count() or 1
    for group in _cpu_groups(Path(cgroup_root), Path(proc, "cgroup")):
        cpus = min(cpus, _cpu_quota(group))
    return max(cpus, 1)


def _cpu_groups(root: Path, listing: Path) -> list[Path]:
    """Folders that may hold this process's CPU quota: its cgroup and every parent, in the
    v2 tree (the `0::` line) and in v1's `cpu` hierarchy. In a container the path may not
    exist under the mount (it shows the container's own group at its root): no harm."""
    try:
        lines = listing.read_text().splitlines()
    except OSError:
        return []
    found: list[Path] = []
    for line in lines:
        _, controllers, where = line.split(":", 2)
        if controllers and "cpu" not in controllers.split(","):
            continue
        base = root if not controllers else root / "cpu"
        group = base / where.strip().lstrip("/")
        found.append(group)
        while group != base and base in group.parents:
            group = group.parent
            found.append(group)
    return found


def _cpu_quota(group: Path) -> int:
    """CPUs a group's quota allows, rounded up: `cpu.max` (v2) or `cpu.cfs_quota_us` over
    `cpu.cfs_period_us` (v1); no quota (`max`, -1) or no file: no limit."""
    try:
        if (group / "cpu.max").exists():
            quota, period = (group / "cpu.max").read_text().split()[:2]
        else:
            quota = (group / "cpu.cfs_quota_us").read_text()
            period = (group / "cpu.cfs_period_us").read_text()
        q, p = int(quota), int(period)
    except (OSError, ValueError):
        return 1 << 30
    return max(-(-q // p), 1) if q > 0 and p > 0 else 1 << 30
