"""What the GeoIP database costs in memory (run: python bench/geoip_rss.py [N]): the process's
RSS split by kind, and the machine's shared memory, after opening the demo GeoLite2-City,
after N lookups of random public IPv4 addresses, and after `release()`. Measures, asserts
nothing: the figures for docs/operations.md.

RssFile is pages mapped from a file (the page cache, which the kernel may reclaim);
RssShmem is pages mapped from shared memory, such as a memfd; RssAnon is the heap. The
machine's Shmem (from /proc/meminfo) counts a memfd whether or not it is mapped.
"""

from __future__ import annotations

import random
import socket
import struct
import sys

from geodns import config
from geodns.geo.locator import Locator
from geodns.geo.mmdb import EMPTY


def status() -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, RssShmem of this process and the machine's Shmem, in kB."""
    found: dict[str, int] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                found[key] = int(rest.split()[0])
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key == "Shmem":
                found["Shmem(machine)"] = int(rest.split()[0])
    return found


def show(label: str, base: dict[str, int]) -> None:
    now = status()
    parts = [f"{key} {now[key] / 1024:6.1f}" for key in now if key != "Shmem(machine)"]
    shm = (now["Shmem(machine)"] - base["Shmem(machine)"]) / 1024
    print(f"{label:<22} {'  '.join(parts)}  machine Shmem +{shm:.1f}  (MiB)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    path = config.demo_geoip_path()
    assert path, "the demo GeoLite2-City (maxminddb-geolite2) is not installed"
    base = status()
    show("start", base)
    locator = Locator.open(path, None)
    show("opened", base)
    rng = random.Random(7)
    tree = locator.city.tree
    for _ in range(n):
        address = struct.pack("!I", rng.randrange(1 << 24, 224 << 24))
        record, _ = tree.lookup(address)  # straight to the tree: no release every 512 walks
        if record != EMPTY:
            tree.city(record)
    show(f"{n} lookups", base)
    for _ in range(n // 10):
        locator.facts(socket.AF_INET, struct.pack("!I", rng.randrange(1 << 24, 224 << 24)))
    locator.release()
    show("release()", base)


if __name__ == "__main__":
    main()
