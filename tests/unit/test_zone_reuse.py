"""A reload parses only the zone files that changed; everything else about loading holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from geodns import names
from geodns.errors import ZoneError
from geodns.table import compile_table, dismantle
from geodns.zones import load, zonefile

ORIGINS = ("a.test.", "b.test.", "c.test.")


def zone_text(origin: str, address: str = "192.0.2.1") -> str:
    return f"zone: {origin}\nns: [ns1.{origin}]\nrecords:\n  ns1: {{A: {address}}}\n"


class Counts:
    """How often the loader parsed and read a file (the two things reuse saves)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parses = self.reads = 0
        parse, read = zonefile.load_text, load._read_text

        def counted_parse(*args, **kwargs):
            self.parses += 1
            return parse(*args, **kwargs)

        def counted_read(path: str) -> str:
            self.reads += 1
            return read(path)

        monkeypatch.setattr(zonefile, "load_text", counted_parse)
        monkeypatch.setattr(load, "_read_text", counted_read)

    def reset(self) -> None:
        self.parses = self.reads = 0


def write(path: Path, text: str, age: float = 100.0) -> None:
    """Write a file that looks `age` seconds old (so its stat may be trusted)."""
    path.write_text(text)
    past = os.stat(path).st_mtime - age
    os.utime(path, (past, past))


@pytest.fixture
def zones_dir(tmp_path: Path) -> Path:
    for origin in ORIGINS:
        write(tmp_path / f"{origin}yaml", zone_text(origin))
    return tmp_path


def address_of(zone, name: str) -> bytes:
    return zone.rrsets[names.name_to_wire(name)][1].rdatas[0]


def test_only_the_changed_file_is_parsed(zones_dir: Path, monkeypatch) -> None:
    counts, loader = Counts(monkeypatch), load.ZoneLoader()
    first = {z.origin_text: z for z in loader.load_dir(str(zones_dir))}
    assert (counts.parses, counts.reads) == (3, 3)
    counts.reset()
    write(zones_dir / "b.test.yaml", zone_text("b.test.", "192.0.2.2"), age=50)
    second = {z.origin_text: z for z in loader.load_dir(str(zones_dir))}
    assert (counts.parses, counts.reads) == (1, 1)  # the other two: not even read
    assert address_of(second["b.test."], "ns1.b.test.") == bytes([192, 0, 2, 2])
    assert second["b.test."].serial != first["b.test."].serial
    for origin in ("a.test.", "c.test."):
        assert second[origin].rrsets == first[origin].rrsets
        assert second[origin].serial == first[origin].serial


def test_touched_but_identical_file_is_read_not_parsed(zones_dir: Path, monkeypatch) -> None:
    counts, loader = Counts(monkeypatch), load.ZoneLoader()
    before = loader.load_dir(str(zones_dir))
    counts.reset()
    write(zones_dir / "a.test.yaml", zone_text("a.test."), age=50)  # a new mtime, same text
    after = loader.load_dir(str(zones_dir))
    assert (counts.parses, counts.reads) == (0, 1)
    assert [z.serial for z in after] == [z.serial for z in before]


def test_a_file_too_fresh_to_trust_its_stat_is_hashed(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a.test.yaml").write_text(zone_text("a.test."))  # written just now
    counts, loader = Counts(monkeypatch), load.ZoneLoader()
    loader.load_dir(str(tmp_path))
    counts.reset()
    loader.load_dir(str(tmp_path))
    assert (counts.parses, counts.reads) == (0, 1)


def test_a_broken_change_fails_the_load_and_is_forgotten(zones_dir: Path, monkeypatch) -> None:
    counts, loader = Counts(monkeypatch), load.ZoneLoader()
    loader.load_dir(str(zones_dir))
    path = zones_dir / "c.test.yaml"
    write(path, zone_text("c.test.", "192.0.2.300"), age=50)
    with pytest.raises(ZoneError) as info:
        loader.load_dir(str(zones_dir))
    assert [str(p).split(": ")[0] for p in info.value.problems] == [f"{path}:4"]
    counts.reset()
    write(path, zone_text("c.test."), age=20)  # put back: the last good load still knows it
    assert len(loader.load_dir(str(zones_dir))) == 3
    assert (counts.parses, counts.reads) == (0, 1)


def test_a_removed_file_drops_its_zone(zones_dir: Path) -> None:
    loader = load.ZoneLoader()
    loader.load_dir(str(zones_dir))
    (zones_dir / "b.test.yaml").unlink()
    assert [z.origin_text for z in loader.load_dir(str(zones_dir))] == ["a.test.", "c.test."]


def test_the_same_origin_in_two_files_is_still_an_error(zones_dir: Path) -> None:
    loader = load.ZoneLoader()
    loader.load_dir(str(zones_dir))
    write(zones_dir / "d.yaml", zone_text("a.test."))
    with pytest.raises(ZoneError, match=r"d.yaml:1: zone a.test. is also defined in"):
        loader.load_dir(str(zones_dir))


def test_a_reused_zone_outlives_the_table_it_came_from(zones_dir: Path) -> None:
    """Retiring the old table empties its zones in place; the new table must not share them."""
    loader = load.ZoneLoader()
    old = compile_table(loader.load_dir(str(zones_dir)))
    new = compile_table(loader.load_dir(str(zones_dir)))
    dismantle(old)
    origin = names.name_to_wire("a.test.")
    assert new.zones[origin].zone.rrsets and new.zones[origin].rrsets
    assert new.fast_size() > 0
