"""geoip.accept_shrink: a changed file of another type, or with under half the networks of the
one serving, is refused (counted, in status) and the old data serves on; accepted when set."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import maxminddb
import pytest

from geodns.geo.locator import Locator
from tests.data.make_mmdb import NETWORKS, write_city
from tests.servers import DATA
from tests.unit.test_geoip_rewrite import cp_over, facts, in_child

CITY = DATA / "city-test.mmdb"
PROBES = ["81.2.69.1", "12.0.0.1", "5.1.0.1", "1.0.16.1", "2a01:4f8::1"]
FEW = {k: NETWORKS[k] for k in ("81.2.69.0/24", "12.0.0.0/16")}  # 2 of the 19 networks


def nodes(path: Path) -> int:
    with maxminddb.open_database(str(path)) as reader:
        return reader.metadata().node_count


def swap(work: Path, content: bytes, accept_shrink: bool) -> tuple[bool, Locator, dict, dict]:
    """Open a copy of the test City database, cp `content` over it, reload as SIGHUP would."""
    shutil.copyfile(CITY, work)
    os.utime(work, ns=(0, 10**18))  # the rewrite shows even within one clock tick
    locator = Locator.open(str(work), None, accept_shrink=accept_shrink)
    before = facts(locator, PROBES)
    cp_over(work, content)
    reloaded = locator.reload_if_changed(settled=True)
    assert locator.reload_if_changed(settled=True) is False  # refused once, not again
    return reloaded, locator, before, facts(locator, PROBES)


@pytest.fixture
def country(tmp_path: Path) -> bytes:
    """The same networks and records, labelled a Country database."""
    write_city(tmp_path / "country.mmdb", kind="GeoIP2-Country")
    return (tmp_path / "country.mmdb").read_bytes()


@pytest.fixture
def shrunk(tmp_path: Path) -> bytes:
    write_city(tmp_path / "few.mmdb", FEW)
    assert nodes(tmp_path / "few.mmdb") * 2 < nodes(CITY)  # the premise: under half
    return (tmp_path / "few.mmdb").read_bytes()


@pytest.mark.parametrize(("kind", "said"), [("country", "another type"), ("shrunk", "networks")])
def test_suspect_swap_is_refused(kind: str, said: str, request, tmp_path: Path, caplog) -> None:
    content = request.getfixturevalue(kind)
    caplog.set_level(logging.INFO, logger="geodns.geoip")

    def job() -> None:
        reloaded, locator, before, after = swap(tmp_path / "c.mmdb", content, False)
        assert not reloaded and after == before
        assert locator.database_type == "GeoIP2-City"
        assert (locator.refusals.suspect, locator.refusals.broken) == (1, 0)
        assert locator.reload_failures == 1  # the existing alert's metric counts it too
        last = locator.status()["last_refused"]["city"]
        assert last["suspect"] and said in last["reason"] and "accept_shrink" in last["reason"]
        assert "GeoIP reload: refused" in caplog.text and said in caplog.text

    in_child(job)


@pytest.mark.parametrize("kind", ["country", "shrunk"])
def test_accept_shrink_takes_it(kind: str, request, tmp_path: Path) -> None:
    content = request.getfixturevalue(kind)

    def job() -> None:
        reloaded, locator, before, after = swap(tmp_path / "c.mmdb", content, True)
        assert reloaded and locator.refusals.suspect == 0
        if kind == "shrunk":  # 5.1.0.0/16 (DE) is gone from the new file
            assert before["5.1.0.1"][2] == "DE" and after["5.1.0.1"][2] is None

    in_child(job)


def test_accept_set_later_lets_the_refused_file_in(tmp_path: Path, shrunk: bytes) -> None:
    """A reload that turns geoip.accept_shrink on: the file refused before is taken."""

    def job() -> None:
        reloaded, locator, _, _ = swap(tmp_path / "c.mmdb", shrunk, False)
        assert not reloaded
        locator.accept(True)
        assert locator.reload_if_changed(settled=True) is True
        assert locator.status()["serving"]["city"]["networks"] == nodes(tmp_path / "c.mmdb")

    in_child(job)


def test_a_bigger_database_of_the_same_type_is_taken(tmp_path: Path) -> None:
    write_city(tmp_path / "more.mmdb", {**NETWORKS, "100.64.0.0/10": ("EU", "FR", None, 0, 0)})
    content = (tmp_path / "more.mmdb").read_bytes()

    def job() -> None:
        reloaded, locator, _, _ = swap(tmp_path / "c.mmdb", content, False)
        assert reloaded and locator.refusals.suspect == 0

    in_child(job)


def test_accept_shrink_is_read_from_a_config_file(tmp_path: Path) -> None:
    from geodns import config as cfg

    path = tmp_path / "geodns.yaml"
    path.write_text("geoip: {city: c.mmdb, accept_shrink: true}\n")
    geoip = cfg.load(str(path)).geoip
    assert geoip.accept_shrink is True and geoip.city == str(tmp_path / "c.mmdb")
    path.write_text("geoip: {city: c.mmdb}\n")
    assert cfg.load(str(path)).geoip.accept_shrink is False
