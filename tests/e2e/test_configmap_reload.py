"""A Kubernetes ConfigMap update reaches a running server: kubelet writes the new files into a
fresh hidden folder and swaps one `..data` symlink (the user-visible names are symlinks
through it); the file watcher must notice, for zones and for the config alike."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest
import yaml

from tests.servers import DATA, WORKERS, ServerProcess, wait_for

# State must reach every worker: `make test` runs these again with two (-m workers).
pytestmark = [pytest.mark.workers]

ZONE = "example.test.yaml"


def atomic_write(folder: Path, files: dict[str, str], stamp: str) -> None:
    """What kubelet's AtomicWriter does: ..<stamp>/ with the files, `..data` -> it swapped in
    by one rename, a top-level symlink per name through ..data, the old folder removed."""
    folder.mkdir(exist_ok=True)
    fresh = folder / f"..{stamp}"
    fresh.mkdir()
    for name, text in files.items():
        (fresh / name).write_text(text)
    old = os.readlink(folder / "..data") if (folder / "..data").is_symlink() else None
    (folder / "..data_tmp").symlink_to(fresh.name)
    os.replace(folder / "..data_tmp", folder / "..data")
    for name in files:
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(f"..data/{name}")
    if old:
        shutil.rmtree(folder / old)


def config_text(zones: Path, ecs: bool) -> str:
    return yaml.safe_dump(
        {
            "dns": {"listen": ["127.0.0.1:0"], "workers": WORKERS},
            "http": {"listen": "127.0.0.1:0"},
            "ecs": {"enabled": ecs},
            "zones_dir": str(zones),
            "reload": {"watch": True, "poll_interval": "100ms"},
        }
    )


def ask(server: ServerProcess, name: str) -> dns.message.Message:
    host, port = server.bound[0]
    ecs = dns.edns.ECSOption("81.2.69.0", 24)
    query = dns.message.make_query(name, "A", use_edns=0, options=[ecs])
    return dns.query.udp(query, host, port=port, timeout=3)


def addresses(reply: dns.message.Message) -> set[str]:
    return {item.address for rrset in reply.answer for item in rrset}


def has_ecs(reply: dns.message.Message) -> bool:
    return any(isinstance(option, dns.edns.ECSOption) for option in reply.options)


def test_configmap_symlink_swap_reloads_zones_and_config(tmp_path: Path) -> None:
    conf, zones = tmp_path / "conf", tmp_path / "zones"
    zone = (DATA / "zones" / "core" / ZONE).read_text()
    atomic_write(zones, {ZONE: zone}, "2026_01_01_00_00_00.1")
    atomic_write(conf, {"geodns.yaml": config_text(zones, ecs=True)}, "2026_01_01_00_00_00.1")
    server = ServerProcess(["serve", "--config", str(conf / "geodns.yaml")]).start()
    try:
        before = ask(server, "static.example.test")
        assert addresses(before) == {"192.0.2.1", "192.0.2.2"} and has_ecs(before)

        changed = zone.replace("static: {A: [192.0.2.1, 192.0.2.2]", "static: {A: [192.0.2.7]")
        assert changed != zone
        atomic_write(zones, {ZONE: changed}, "2026_01_01_00_01_00.2")
        wait_for(lambda: addresses(ask(server, "static.example.test")) == {"192.0.2.7"}, 15)

        atomic_write(conf, {"geodns.yaml": config_text(zones, ecs=False)}, "2026_01_01_00_02_00.3")
        wait_for(lambda: not has_ecs(ask(server, "static.example.test")), 15)
        assert addresses(ask(server, "static.example.test")) == {"192.0.2.7"}
        assert sorted(p.name for p in zones.iterdir()) == [
            "..2026_01_01_00_01_00.2",
            "..data",
            ZONE,
        ]
    finally:
        assert server.stop() == 0, server.log
