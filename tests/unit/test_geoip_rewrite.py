"""The GeoIP file rewritten in place under an open Locator: old data serves on, no SIGBUS.

Each case runs in a forked child, so a SIGBUS (what mapping the operator's file led to when
it was truncated) fails the test instead of killing pytest.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import signal
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from geodns.config import demo_geoip_path
from geodns.errors import GeoIPError
from geodns.geo import snapshot
from geodns.geo.locator import Locator
from tests.data.make_mmdb import NETWORKS, write_city
from tests.servers import DATA

CITY = DATA / "city-test.mmdb"
GEOLITE2 = demo_geoip_path()
PROBES = ["81.2.69.1", "12.0.0.1", "5.1.0.1", "1.0.16.1", "2a01:4f8::1", "2400:cb00::1"]
WIDE = ["81.2.69.160", "8.8.8.8", "1.1.1.1", "41.0.0.1", "2001:4860::1", "2a01:4f8::1"]
MOVED = {**NETWORKS, "12.0.0.0/16": ("EU", "IE", "L", 53.35, -6.26)}  # was NA, US-CA


def in_child(job: Callable[[], None]) -> None:
    """Run job in a forked child; its failure, or the signal that killed it, fails the test."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        os.close(read)
        code = 0
        try:
            job()
        except BaseException:
            os.write(write, traceback.format_exc().encode())
            code = 1
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        pytest.fail(f"child killed by {signal.Signals(os.WTERMSIG(status)).name}")
    assert os.WEXITSTATUS(status) == 0, report


def facts(locator: Locator, addresses: list[str]) -> dict[str, tuple]:
    found = {}
    for text in addresses:
        ip = ipaddress.ip_address(text)
        f = locator.facts(ip.version, ip.packed)
        found[text] = (f.prefix_len, f.continent, f.country, f.subdivision, f.lat, f.lon)
    return found


def cp_over(path: Path, content: bytes, chunk: int = 1 << 16) -> None:
    """What `cp new old` does: truncate the file in place, then write it in chunks."""
    with open(path, "wb") as f:  # O_TRUNC on the same inode
        for start in range(0, len(content), chunk):
            f.write(content[start : start + chunk])


def truncate_to(fraction: float) -> Callable[[Path], None]:
    return lambda path: os.truncate(path, int(path.stat().st_size * fraction))


def garbage_in_place(path: Path) -> None:
    """Random bytes over the whole file, same size, no truncation (dd conv=notrunc)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.write(os.urandom(size))


def rewrite_then_look(
    source: Path | str, work: Path, rewrite: Callable[[Path], None], probes: list[str]
) -> tuple[bool, dict, dict]:
    """Open `work` (a copy of source), rewrite it, look up again, reload as the watcher would.

    Returns (reloaded, facts before, facts after the reload).
    """
    shutil.copyfile(source, work)
    os.utime(work, ns=(0, 10**18))  # a rewrite within the same clock tick still shows
    locator = Locator.open(str(work), None)
    before = facts(locator, probes)
    rewrite(work)
    locator.release()  # drop our mapped pages: the next lookups fault them in again
    assert facts(locator, probes) == before  # the old data serves on
    assert locator.reload_if_changed() is False  # first look at the change: wait
    reloaded = locator.reload_if_changed()  # held still since: tried
    assert locator.reload_if_changed() is False  # refused or loaded once, not again
    return reloaded, before, facts(locator, probes)


BAD = {
    "truncated to 0": truncate_to(0),
    "truncated to half": truncate_to(0.5),
    "garbage in place": garbage_in_place,
    "cp of garbage": lambda path: cp_over(path, os.urandom(4096)),
}


@pytest.mark.parametrize("rewrite", list(BAD.values()), ids=list(BAD))
def test_bad_rewrite_is_refused_and_old_data_serves(rewrite, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="geodns.geoip")

    def job() -> None:
        reloaded, before, after = rewrite_then_look(CITY, tmp_path / "c.mmdb", rewrite, PROBES)
        assert not reloaded and after == before
        assert "GeoIP reload: refused" in caplog.text

    in_child(job)


def test_valid_rewrite_in_place_is_loaded(tmp_path: Path, caplog) -> None:
    write_city(tmp_path / "moved.mmdb", MOVED)
    moved = (tmp_path / "moved.mmdb").read_bytes()
    caplog.set_level(logging.INFO, logger="geodns.geoip")

    def job() -> None:
        work = tmp_path / "c.mmdb"
        reloaded, before, after = rewrite_then_look(
            CITY, work, lambda path: cp_over(path, moved, 1000), PROBES
        )
        assert reloaded
        assert before["12.0.0.1"][1:3] == ("NA", "US") and after["12.0.0.1"][1:3] == ("EU", "IE")
        assert {k: v for k, v in after.items() if k != "12.0.0.1"} == {
            k: v for k, v in before.items() if k != "12.0.0.1"
        }
        assert f"GeoIP reload: {work} loaded" in caplog.text

    in_child(job)


@pytest.mark.skipif(not GEOLITE2, reason="the demo GeoLite2-City is not installed")
@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_geolite2_truncated_under_lookups(fraction: float, tmp_path: Path) -> None:
    """The real database, where half a file still leaves most tree pages past the end."""

    def job() -> None:
        work = tmp_path / "city.mmdb"
        reloaded, before, after = rewrite_then_look(
            str(GEOLITE2), work, truncate_to(fraction), WIDE
        )
        assert not reloaded and after == before
        assert before["81.2.69.160"][2] == "GB"

    in_child(job)


def test_a_file_that_changes_while_copied_waits(tmp_path: Path, monkeypatch) -> None:
    """A writer appending during the copy: the copy is dropped, tried again at a later look."""
    work = tmp_path / "c.mmdb"
    shutil.copyfile(CITY, work)
    pour = snapshot._pour

    def pour_while_written(src: int, dst: int, size: int) -> int:
        copied = pour(src, dst, size)
        with open(work, "ab") as f:
            f.write(b"\0")
        return copied

    monkeypatch.setattr(snapshot, "_pour", pour_while_written)
    with pytest.raises(snapshot.Changing):
        snapshot.Snapshot(str(work))


def test_an_empty_or_missing_file_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "empty.mmdb").write_bytes(b"")
    for name, says in (("empty.mmdb", "empty file"), ("missing.mmdb", "No such file")):
        with pytest.raises(GeoIPError, match=says):
            Locator.open(str(tmp_path / name), None)


def test_the_copy_is_sealed(tmp_path: Path) -> None:
    """Not even we can shrink or write the private copy: its maps cannot fault past the end."""
    with snapshot.Snapshot(str(CITY)) as snap:
        with pytest.raises(PermissionError):
            os.ftruncate(snap.fd, 0)
        with pytest.raises(PermissionError):
            os.pwrite(snap.fd, b"x", 0)
        assert snap.map()[: snap.size] == CITY.read_bytes()
